// Entry file of the delivery thread in the daemon: the thread's deliveries are recorded there (tapes), and the
// daemon's inspector lists and replays them by asking the thread.
import { parentPort } from 'node:worker_threads';
import { serve } from '../actors/delivery/thread/host.js';
import { Capture } from '../inspector/capture.js';

if (parentPort) serve(parentPort, (config) => new Capture(() => config().inspector, 't'));
