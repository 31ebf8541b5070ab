"""Helpers shared by the bench/ scripts: building annals in release mode,
preparing the corpus, timing commands."""
import datetime
import glob
import os
import platform
import resource
import shutil
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def build():
    """Release build in build-bench/; returns the annals binary."""
    subprocess.run([os.path.join(TOP, "scripts", "build"), os.path.join(TOP, "build-bench"),
                    "-Dbuildtype=release"], check=True, cwd=TOP)
    return os.path.join(TOP, "build-bench", "cli", "annals")


def corpus_files(given=None, quick=False):
    files = given or sorted(glob.glob(os.path.join(TOP, "..", "shared", "corpus", "*.mbox.xz")))
    if quick:
        files = sorted(files, key=os.path.getsize)[:1]
    return files


def decompress(path, workdir):
    """The corpus file as a plain mbox in workdir; returns its path."""
    name = os.path.basename(path).split(".")[0]
    out = os.path.join(workdir, name + ".mbox")
    if path.endswith(".xz"):
        with open(out, "wb") as fh:
            sh("xz", "-dc", path, stdout=fh)
    elif path.endswith(".gz"):
        with open(out, "wb") as fh:
            sh("gzip", "-dc", path, stdout=fh)
    else:
        shutil.copy(path, out)
    return out


def du(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(d, f))
    return total


def timed(args, env=None, stdin=None, stdout=subprocess.DEVNULL):
    """Runs a command; returns (wall seconds, peak RSS of children so far in KiB)."""
    t0 = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdin=stdin, stdout=stdout)
    wall = time.perf_counter() - t0
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def machine(runs):
    return "%s, %d cores, %.0f GiB, %s; median of %d run(s)" % (
        datetime.date.today().isoformat(), os.cpu_count(),
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, platform.platform(), runs)


def write_result(name, info, table):
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", "%s-%s.md" % (name, datetime.date.today().isoformat()))
    with open(out, "w") as fh:
        fh.write("# bench/%s\n\n%s\n\n%s\n" % (name, info, table))
    print(info)
    print(table)
    print("written to", os.path.relpath(out, TOP))
