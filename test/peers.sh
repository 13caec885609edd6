#!/bin/sh
# Installs the Debian peers the tests drive (Postfix's smtp-source, swaks, strace, openssl, and
# Chromium for the inspector's browser test) when they are missing. Tests never skip for a missing
# peer: without root to install it, this fails.
set -eu
need=""
[ -x /usr/sbin/smtp-source ] || need="$need postfix"
command -v swaks >/dev/null 2>&1 || need="$need swaks"
command -v strace >/dev/null 2>&1 || need="$need strace"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
[ -x /usr/bin/chromium ] || need="$need chromium"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "test peers missing:$need; install them (apt-get install$need) or run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how it is to be used; "Local only" keeps it off the network.
echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
echo "postfix postfix/mailname string petrel.test" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $need >/dev/null
