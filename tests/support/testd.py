#!/usr/bin/env python3
"""A test daemon for pidaudit's tests: writes a pidfile, optionally locks it, and waits to be killed.

Prints its PID (the final daemon's, after --daemonize) on stdout once the pidfile is written and the
lock taken, then sleeps until killed.
"""
import argparse
import ctypes
import fcntl
import os
import struct
import sys
import threading
import time


def set_name(name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def lock(fd, kind):
    if kind == "flock":
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    elif kind == "flock-shared":
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    elif kind == "lockf":
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    elif kind == "ofd":
        # struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
        arg = struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0)
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, arg)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pidfile", help="write the PID here")
    p.add_argument("--lock", choices=["none", "flock", "flock-shared", "lockf", "ofd"], default="none")
    p.add_argument("--daemonize", action="store_true", help="double-fork and setsid first")
    p.add_argument("--name", help="set comm (prctl PR_SET_NAME)")
    p.add_argument("--write-pid", type=int, help="write this PID instead of our own")
    p.add_argument("--no-pidfile-write", action="store_true", help="open and lock the file but do not write it")
    p.add_argument("--threads", type=int, default=0, help="start this many extra threads (each a TID under /proc/PID/task)")
    args = p.parse_args()

    if args.daemonize:
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
    if args.name:
        set_name(args.name)
    fd = None
    if args.pidfile:
        fd = os.open(args.pidfile, os.O_RDWR | os.O_CREAT, 0o644)
        if args.lock != "none":
            lock(fd, args.lock)
        if not args.no_pidfile_write:
            os.ftruncate(fd, 0)
            os.write(fd, b"%d\n" % (args.write_pid or os.getpid()))
    for _ in range(args.threads):
        threading.Thread(target=time.sleep, args=(1000000,), daemon=True).start()
    sys.stdout.write("%d\n" % os.getpid())
    sys.stdout.flush()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
