// Entry file of the delivery thread (delivery_thread): serves the queue on the parent port.
import { parentPort } from 'node:worker_threads';
import { serve } from './host.js';

if (parentPort) serve(parentPort);
