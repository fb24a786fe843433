#!/bin/sh
echo "$GREETING"
echo "built without a daemon, running in $(pwd)"
