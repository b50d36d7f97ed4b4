#!/usr/bin/python3
"""A stand-in for systemd-logind on a private bus, for coffer's tests.

Serves the parts of org.freedesktop.login1 that coffer uses (Manager.Inhibit,
Manager.GetSessionByPID, Session.IdleHint/IdleSinceHintMonotonic) and, on the
test interface org.coffer.Test, lets a test make it emit PrepareForSleep or a
session Lock, or set the idle hint. Writes events to the state file argv[1].
"""
import os
import sys
import time

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

STATE = sys.argv[1]
SESSION = "/org/freedesktop/login1/session/test"


def note(text):
    with open(STATE, "a") as f:
        f.write(text + "\n")


class Manager(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, "/org/freedesktop/login1")
        self.write_ends = []

    @dbus.service.method("org.freedesktop.login1.Manager", in_signature="ssss", out_signature="h")
    def Inhibit(self, what, who, why, mode):
        r, w = os.pipe()
        self.write_ends.append(w)
        note(f"inhibit taken {what} {mode}")
        # The inhibitor ends when the holder closes its end of the pipe.
        GLib.io_add_watch(w, GLib.IO_ERR | GLib.IO_HUP, self._released)
        fd = dbus.types.UnixFd(r)
        os.close(r)
        return fd

    def _released(self, fd, cond):
        note("inhibit released")
        os.close(fd)
        return False

    @dbus.service.method("org.freedesktop.login1.Manager", in_signature="u", out_signature="o")
    def GetSessionByPID(self, pid):
        return dbus.ObjectPath(SESSION)

    @dbus.service.signal("org.freedesktop.login1.Manager", signature="b")
    def PrepareForSleep(self, start):
        pass


class Session(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, SESSION)
        self.idle = False
        self.since = 0

    @dbus.service.signal("org.freedesktop.login1.Session", signature="")
    def Lock(self):
        pass

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, iface, prop):
        if prop == "IdleHint":
            return dbus.Boolean(self.idle)
        if prop == "IdleSinceHintMonotonic":
            return dbus.UInt64(self.since)
        raise dbus.exceptions.DBusException("no such property " + prop)


class Test(dbus.service.Object):
    def __init__(self, bus, manager, session):
        super().__init__(bus, "/test")
        self.manager, self.session = manager, session

    @dbus.service.method("org.coffer.Test")
    def EmitSleep(self):
        self.manager.PrepareForSleep(True)

    @dbus.service.method("org.coffer.Test")
    def EmitLock(self):
        self.session.Lock()

    @dbus.service.method("org.coffer.Test", in_signature="t")
    def SetIdleFor(self, seconds):
        self.session.idle = True
        self.session.since = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6) - seconds * 1000000


DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
name = dbus.service.BusName("org.freedesktop.login1", bus)
manager = Manager(bus)
session = Session(bus)
test = Test(bus, manager, session)
note("ready")
GLib.MainLoop().run()
