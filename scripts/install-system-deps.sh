#!/bin/sh
# Installs the Debian packages that tests need and npm cannot provide, when they are missing.
# Runs as root on a fresh machine (CI); elsewhere it only says what is missing.
set -e
# Debian puts nats-server and sshd in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
# command:package pairs: a real nats-server and sshd for the cluster tests, tmux for the terminal display; chromium comes with the dashboard.
SYSTEM_DEPS="${SYSTEM_DEPS:-nats-server:nats-server sshd:openssh-server tmux:tmux chromium:chromium}"
missing=""
for pair in $SYSTEM_DEPS; do
  command="${pair%%:*}"
  package="${pair#*:}"
  command -v "$command" >/dev/null 2>&1 || missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then
  echo "installing test dependencies:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
  echo "tests need these Debian packages:$missing (run as root, or install them: apt-get install -y$missing)" >&2
  exit 1
fi
