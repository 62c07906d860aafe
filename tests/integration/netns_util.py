"""Test "hosts" made of Linux network namespaces on this machine.

A Lab is a switch namespace holding a Linux bridge plus one namespace per
host, each joined to the bridge by a veth pair (eth0 inside the host,
v<i> on the bridge) and given one private test address (10.77.0.0/24 by
default). Names are unique per run ("sl" + 4 random hex chars + role), so
parallel runs do not collide. Everything is removed by Lab.destroy(), which
also kills any process still inside one of the lab's namespaces (they are
ours: only the test starts processes there).

Needs root / CAP_NET_ADMIN; Lab.create() raises LabUnavailable when the
first `ip netns add` fails so the caller can skip.
"""
import os
import secrets
import signal
import subprocess
import time

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
CURL = "/usr/bin/curl"
CMD_TIMEOUT_S = 10


class LabUnavailable(Exception):
    pass


def _run(args, check=True):
    cp = subprocess.run(args, capture_output=True, text=True, timeout=CMD_TIMEOUT_S)
    if check and cp.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: rc={cp.returncode}: {cp.stderr.strip()}")
    return cp


class Lab:
    def __init__(self, subnet_prefix="10.77.0", prefix_len=24):
        self.tag = "sl" + secrets.token_hex(2)
        self.subnet_prefix = subnet_prefix
        self.prefix_len = prefix_len
        self.switch = f"{self.tag}-sw"
        self.hosts = {}          # role -> (netns name, address)
        self.created = []        # namespaces to delete, in creation order

    def ns(self, role):
        return self.hosts[role][0]

    def addr(self, role):
        return self.hosts[role][1]

    def _add_ns(self, name):
        _run([IP, "netns", "add", name])
        self.created.append(name)
        _run([IP, "-n", name, "link", "set", "lo", "up"])

    def create(self, roles):
        """roles: list of role names; host i gets <subnet_prefix>.<i+1>."""
        cp = _run([IP, "netns", "add", self.switch], check=False)
        if cp.returncode != 0:
            raise LabUnavailable(cp.stderr.strip() or f"ip netns add rc={cp.returncode}")
        self.created.append(self.switch)
        _run([IP, "-n", self.switch, "link", "set", "lo", "up"])
        _run([IP, "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        _run([IP, "-n", self.switch, "link", "set", "br0", "up"])
        for i, role in enumerate(roles):
            name = f"{self.tag}-{role}"
            address = f"{self.subnet_prefix}.{i + 1}"
            self._add_ns(name)
            port = f"v{i}"
            _run([IP, "-n", self.switch, "link", "add", port, "type", "veth",
                  "peer", "name", "eth0", "netns", name])
            _run([IP, "-n", self.switch, "link", "set", port, "master", "br0"])
            _run([IP, "-n", self.switch, "link", "set", port, "up"])
            _run([IP, "-n", name, "addr", "add", f"{address}/{self.prefix_len}", "dev", "eth0"])
            _run([IP, "-n", name, "link", "set", "eth0", "up"])
            self.hosts[role] = (name, address)
        return self

    def link(self, role, up):
        """Set a host's eth0 up or down (from inside its namespace)."""
        _run([IP, "-n", self.ns(role), "link", "set", "eth0", "up" if up else "down"])

    def exec_args(self, role, args):
        """argv that runs args inside a host's namespace."""
        return [IP, "netns", "exec", self.ns(role)] + [str(a) for a in args]

    def http(self, role, url, timeout=3.0, method="GET"):
        """(status, body bytes) of a request made from inside a host; status 0 when
        no HTTP answer came (refused, unreachable, timed out)."""
        args = self.exec_args(role, [CURL, "-sS", "-X", method, "-m", str(timeout),
                                     "-o", "-", "-w", "\n%{http_code}", url])
        cp = subprocess.run(args, capture_output=True, timeout=timeout + CMD_TIMEOUT_S)
        body, _, code = cp.stdout.rpartition(b"\n")
        try:
            status = int(code)
        except ValueError:
            status = 0
        return status, body

    def pids(self):
        out = []
        for name in self.created:
            cp = _run([IP, "netns", "pids", name], check=False)
            out += [int(x) for x in cp.stdout.split() if x.isdigit()]
        return out

    def destroy(self):
        """Kill what is left inside our namespaces, then delete them all."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and self.pids():
                time.sleep(0.05)
        errors = []
        for name in reversed(self.created):
            cp = _run([IP, "netns", "del", name], check=False)
            if cp.returncode != 0:
                errors.append(f"{name}: {cp.stderr.strip()}")
        self.created = []
        return errors
