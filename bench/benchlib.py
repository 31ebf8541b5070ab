"""Helpers shared by the bench/ scripts: building annals in release mode,
preparing the corpus, timing commands."""
import datetime
import glob
import os
import platform
import resource
import shutil
import subprocess
import re
import time
import urllib.request

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


def split_mbox(path):
    """Messages of an mboxrd (the corpus's kind): raw bytes, quoting undone."""
    data = open(path, "rb").read()
    out = []
    for part in re.split(rb"(?:^|\n)From [^\n]*\n", data):
        if part:
            if part.endswith(b"\n\n"):
                part = part[:-1]
            out.append(re.sub(rb"(?m)^>(>*From )", rb"\1", part))
    return out


def envelope_time(message):
    """The asctime of a message's Date: in UTC, for its From_ line (the
    receipt time annals keeps, like the corpus's); 1970 without a Date:."""
    import email.utils
    m = re.search(rb"(?im)^date:[ \t]*(.*)", message.partition(b"\n\n")[0])
    try:
        t = email.utils.parsedate_to_datetime(m.group(1).decode("latin-1").strip()).timestamp()
    except Exception:
        t = 0
    return time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(max(t, 0))).encode()


def write_mboxrd(path, messages):
    with open(path, "wb") as fh:
        for m in messages:
            fh.write(b"From bench@example.org %s\n" % envelope_time(m))
            fh.write(re.sub(rb"(?m)^(>*From )", rb">\1", m))
            if not m.endswith(b"\n"):
                fh.write(b"\n")
            fh.write(b"\n")


def replica(message, k):
    """Copy k of a message: new Message-IDs (and the references to them), dates k years on."""
    head, sep, body = message.partition(b"\n\n")
    def ids(m):
        return re.sub(rb"<([^<>\s]+)>", lambda x: b"<r%d.%s>" % (k, x.group(1)), m.group(0))
    head = re.sub(rb"(?im)^(message-id|references|in-reply-to):.*(\n[ \t].*)*", ids, head)
    head = re.sub(rb"(?im)^(date:.*?)(19|20)(\d\d)\b", lambda m: m.group(1) + b"%d" % (int(m.group(2) + m.group(3)) + k), head, count=1)
    return head + sep + body

def small_messages(messages, count=4150, limit=10000):
    """The small-message corpus: the first count single-part messages of at
    most limit bytes (no attachments), like a 2002-era list; corpus order."""
    out = []
    for m in messages:
        head = m.partition(b"\n\n")[0]
        if len(m) <= limit and not re.search(rb"(?im)^content-type:[ \t]*multipart", head):
            out.append(m)
            if len(out) == count:
                break
    return out


def patch_messages(messages, count=4000):
    """The patch-heavy corpus: the messages carrying a git diff, replicated
    (replica(): new Message-IDs and years) until there are count."""
    patches = [m for m in messages if b"\ndiff --git " in m]
    if not patches:
        return []
    return [replica(patches[i % len(patches)], i // len(patches)) if i >= len(patches) else patches[i]
            for i in range(count)]


LIGHTTPD_PI = """server.modules = ("mod_rewrite", "mod_setenv", "mod_cgi")
server.bind = "127.0.0.1"
server.port = %(port)d
server.document-root = "%(run)s/htdocs"
server.pid-file = "%(run)s/lighttpd.pid"
server.errorlog = "%(run)s/error.log"
server.http-parseopts = ("url-path-2f-decode" => "disable")
setenv.add-environment = ("PI_CONFIG" => "%(config)s", "HOME" => "%(run)s", "PATH" => "/usr/bin:/bin")
$HTTP["url"] !~ "^/public-inbox\\.cgi" { url.rewrite-once = ("^(.*)$" => "/public-inbox.cgi$1") }
cgi.assign = (".cgi" => "/usr/bin/perl")
"""


def fast_import(mbox, gitdir):
    data = open(mbox, "rb").read()
    p = subprocess.Popen(["git", "--git-dir=" + gitdir, "fast-import", "--done", "--quiet"], stdin=subprocess.PIPE)
    n = 0
    for part in re.split(rb"(?:^|\n)From [^\n]*\n", data):
        if not part:
            continue
        if part.endswith(b"\n\n"):
            part = part[:-1]
        msg = re.sub(rb"(?m)^>(>*From )", rb"\1", part)
        n += 1
        head = b"commit refs/heads/master\nmark :%d\nauthor a <a@example.org> %d +0000\ncommitter c <c@example.org> %d +0000\ndata 1\nm\n" % (n, 1600000000 + n, 1600000000 + n)
        p.stdin.write(head + (b"from :%d\n" % (n - 1) if n > 1 else b"") + b"M 100644 inline m\ndata %d\n" % len(msg) + msg + b"\n")
    p.stdin.write(b"done\n")
    p.stdin.close()
    p.wait()


def wait_up(url):
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit("bench/web: %s did not come up" % url)


def wrk(url, seconds):
    out = subprocess.run(["wrk", "-t2", "-c2", "-d%ds" % seconds, "--latency", url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % p, out)
        if not m:
            return float("nan")
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, pct(50), pct(99), int(errors.group(1)) if errors else 0


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on now."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
