#!/usr/bin/env python3
"""docs/troubleshooting.md cannot rot: every ```console block runs here.

Each block runs in an empty directory of its own (with `build` pointing at
the checkout's build directory, so `build/libiotsafe-pkcs11.so` resolves as
in the README), with build/ first on PATH, a temporary HOME and host store,
and no IOTSAFE_SIM or IOTSAFE_PKCS11_CONF. Each `$ COMMAND` line runs in
bash; what it prints (standard output and error, in the order written) must
be the lines that follow it, where `...` stands for any text. The exit
status is not compared: the page shows output only.

An HTML comment right before a block sets its conditions:
  <!-- test: NAME=VALUE ... -->   environment variables for the block
  <!-- test: pcscd ... -->        a pcscd must run (scripts/pcscd.sh starts
                                  one with empty virtual readers if none
                                  does, and stops only that one)

Usage: scripts/troubleshooting-test.py [docs/troubleshooting.md]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "troubleshooting.md")


def blocks(text):
    """Yields (line number, conditions, [(command, [expected lines])])."""
    lines = text.splitlines()
    cond = ""
    i = 0
    while i < len(lines):
        m = re.match(r"<!-- test: (.*) -->$", lines[i])
        if m:
            cond = m.group(1)
            i += 1
            continue
        if lines[i] == "```console":
            start = i + 1
            i += 1
            steps = []
            while lines[i] != "```":
                if lines[i].startswith("$ "):
                    steps.append((lines[i][2:], []))
                elif not steps:
                    sys.exit("%s:%d: output before the first $ line" % (PAGE, i + 1))
                else:
                    steps[-1][1].append(lines[i])
                i += 1
            yield start, cond, steps
        if lines[i].strip():
            cond = ""
        i += 1


def matches(want, got):
    pattern = ".*".join(re.escape(p) for p in want.split("..."))
    return re.fullmatch(pattern, got) is not None


def main():
    text = open(PAGE).read()
    work = tempfile.mkdtemp(prefix="iotsafe-troubleshooting.")
    started_pcscd = False
    failed = 0
    n = 0
    try:
        for number, cond, steps in blocks(text):
            n += 1
            d = os.path.join(work, "block%d" % n)
            home = os.path.join(d, ".home")
            os.makedirs(home)
            os.symlink(os.path.join(ROOT, "build"), os.path.join(d, "build"))
            env = {k: v for k, v in os.environ.items()
                   if k not in ("IOTSAFE_SIM", "IOTSAFE_PKCS11_CONF", "PCSCLITE_CSOCK_NAME")}
            env.update(PATH=os.path.join(ROOT, "build") + os.pathsep + env.get("PATH", ""),
                       HOME=home, IOTSAFE_PKCS11_STORE=os.path.join(d, ".store"), LC_ALL="C")
            words = cond.split(" (")[0].split()
            for w in words:
                if "=" in w:
                    k, v = w.split("=", 1)
                    env[k] = v
                elif w == "pcscd":
                    up = subprocess.run([os.path.join(ROOT, "scripts", "pcscd.sh"), "status"],
                                        capture_output=True).returncode == 0
                    if not up:
                        subprocess.run([os.path.join(ROOT, "scripts", "pcscd.sh"), "start"], check=True,
                                       stdout=subprocess.DEVNULL)
                        started_pcscd = True
                else:
                    sys.exit("%s:%d: unknown test condition %r" % (PAGE, number, w))
            for cmd, want in steps:
                p = subprocess.run(["bash", "-c", cmd], cwd=d, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
                got = p.stdout.decode(errors="replace").rstrip("\n").split("\n") if p.stdout else []
                got = [g.rstrip() for g in got]
                ok = len(got) == len(want) and all(matches(w, g) for w, g in zip(want, got))
                if not ok:
                    failed += 1
                    print("FAIL %s:%d: $ %s" % (os.path.relpath(PAGE, ROOT), number, cmd))
                    print("  the page says:")
                    for w in want:
                        print("    " + w)
                    print("  it printed:")
                    for g in got:
                        print("    " + g)
                else:
                    print("ok   $ %s" % cmd)
    finally:
        if started_pcscd:
            subprocess.run([os.path.join(ROOT, "scripts", "pcscd.sh"), "stop"], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    if n == 0:
        sys.exit("%s: no console block found (the test itself is broken)" % PAGE)
    if failed:
        sys.exit("%d transcript(s) of %s differ from what the commands print" % (failed, PAGE))
    print("%d blocks: every transcript is what the commands print" % n)


main()
