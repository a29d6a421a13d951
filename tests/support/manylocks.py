"""Holds N POSIX locks (N/500 private files, 500 one-byte locks each) until killed; prints `ready`."""
import fcntl
import os
import sys
import tempfile
import time

n = int(sys.argv[1])
d = tempfile.mkdtemp(dir=sys.argv[2] if len(sys.argv) > 2 else None)
fds = []
for f in range(0, n, 500):
    fd = os.open(os.path.join(d, str(f)), os.O_RDWR | os.O_CREAT, 0o600)
    fds.append(fd)
    for i in range(min(500, n - f)):
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 2 * i)
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
