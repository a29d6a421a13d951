#!/usr/bin/env python3
"""A test daemon for pidaudit's tests: writes a pidfile, optionally locks it, and waits to be killed.

Prints its PID (the final daemon's, after --daemonize) on stdout once the pidfile is written and the
lock taken, then sleeps until killed.
"""
import argparse
import ctypes
import fcntl
import os
import signal
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
    p.add_argument("--readonly", action="store_true", help="open the existing pidfile read-only (never write it)")
    p.add_argument("--unlink-first", action="store_true", help="delete the pidfile first, as a careless second start does")
    p.add_argument("--setsid", action="store_true", help="become a session leader before opening the pidfile")
    p.add_argument(
        "--fork",
        choices=["none", "after-lock-exit", "after-lock-stay", "child-locks"],
        default="none",
        help="after-lock-*: open and lock, then fork; the child is the daemon and the parent exits or stays."
        " child-locks: write the pidfile, then fork a child that opens and locks it separately",
    )
    p.add_argument("--writer", choices=["daemon", "parent"], default="daemon",
                   help="with --fork after-lock-*: who writes its PID into the file")
    p.add_argument("--workers", type=int, default=0,
                   help="fork this many workers after writing the pidfile; their PIDs follow on a second line")
    p.add_argument("--ids", action="store_true",
                   help="print 'PID parent=P child=C fd=F' (the daemon's PID first) instead of the PID alone")
    p.add_argument("--listen", type=int, help="listen on 127.0.0.1:PORT (TCP) before forking workers, as a prefork server does")
    p.add_argument("--threads", type=int, default=0, help="start this many extra threads (each a TID under /proc/PID/task)")
    args = p.parse_args()
    if args.fork != "none":
        return forked(args)

    if args.daemonize:
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
    if args.name:
        set_name(args.name)
    if args.setsid:
        os.setsid()
    fd = None
    if args.pidfile:
        fd = open_pidfile(args)
        if args.lock != "none":
            lock(fd, args.lock)
        if not args.no_pidfile_write and not args.readonly:
            write_pid(fd, args.write_pid or os.getpid())
    if args.listen:
        import socket
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", args.listen))
        server.listen(8)
    workers = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            forever()
        workers.append(pid)
    for _ in range(args.threads):
        threading.Thread(target=time.sleep, args=(1000000,), daemon=True).start()
    report(args, os.getpid(), fd=fd)
    if args.workers:
        sys.stdout.write(" ".join(str(w) for w in workers) + "\n")
        sys.stdout.flush()
    forever()


def open_pidfile(args):
    if args.readonly:
        return os.open(args.pidfile, os.O_RDONLY)
    if args.unlink_first:
        try:
            os.unlink(args.pidfile)
        except FileNotFoundError:
            pass
        return os.open(args.pidfile, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    return os.open(args.pidfile, os.O_RDWR | os.O_CREAT, 0o644)


def write_pid(fd, pid):
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % pid, 0)


def report(args, pid, **ids):
    if args.ids:
        extra = " ".join("%s=%d" % (k, v) for k, v in ids.items() if v is not None)
        sys.stdout.write("%d %s\n" % (pid, extra))
    else:
        sys.stdout.write("%d\n" % pid)
    sys.stdout.flush()


def forever():
    while True:
        time.sleep(3600)


def forked(args):
    """The daemon is a forked child; see --fork."""
    if args.setsid:
        os.setsid()
    if args.name:
        set_name(args.name)
    fd = open_pidfile(args)
    parent = os.getpid()
    if args.fork == "child-locks":
        write_pid(fd, parent)
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            own = os.open(args.pidfile, os.O_RDWR)
            lock(own, args.lock)
            os.write(w, b"%d" % own)
            forever()
        own = int(os.read(r, 16))
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        report(args, parent, child=child, fd=own)
        forever()
    if args.lock != "none":
        lock(fd, args.lock)
    if args.writer == "parent":
        write_pid(fd, parent)
    if args.fork == "after-lock-stay":
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        if args.writer == "daemon":
            write_pid(fd, os.getpid())
        os.write(w, b"x")
        if args.fork == "after-lock-exit":
            while os.getppid() == parent:  # the acquirer has exited once we are reparented
                time.sleep(0.01)
        report(args, os.getpid(), parent=parent, fd=fd)
        forever()
    os.close(w)
    os.read(r, 1)
    if args.fork == "after-lock-exit":
        os._exit(0)
    forever()


if __name__ == "__main__":
    main()
