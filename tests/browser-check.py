#!/usr/bin/python3
"""Loads pages in headless Chromium at 360 and 1280 px wide and checks the
DOM: a lang attribute, a viewport meta, one h1, labelled inputs, no
horizontal overflow
(the document wider than its layout viewport), no text under 14 px, no script element, and no
serious or critical violation of axe-core's accessibility rules (axe.min.js
injected into each page; scripts/install-deps test puts it in
/var/cache/annals/axe, or $ANNALS_AXE_DIR).  Saves a screenshot of each page and width.

usage: browser-check.py OUTDIR URL...   (prints one line per check; exit 1 on a failure)
A URL ending in #nested must show a thread whose replies are measured to
sit to the right of their parents (every page is checked when it has any).
Driven over the DevTools protocol (python3-websocket), with Debian's
chromium; no download of any browser.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

CHECK = r"""(() => {
  const d = document, e = d.documentElement;
  const inputs = [...d.querySelectorAll('input[type=search],input[type=text]')];
  return JSON.stringify({
    lang: e.getAttribute('lang') || '',
    h1: d.querySelectorAll('h1').length,
    scripts: d.querySelectorAll('script').length,
    // clientWidth is the layout viewport: with mobile emulation
    // innerWidth grows to the page's width and would hide any overflow.
    overflow: Math.max(e.scrollWidth, d.body.scrollWidth) - e.clientWidth,
    wide: [...d.body.querySelectorAll('*')].filter(el => el.getBoundingClientRect().right > e.clientWidth + 1)
      .slice(-3).map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')),
    unlabelled: inputs.filter(i => !(i.id && d.querySelector('label[for="' + i.id + '"]'))).length,
    title: d.title,
    viewport: !!d.querySelector('meta[name=viewport]'),
    small: (() => {
      // Text smaller than 14 px: elements with text of their own.
      const out = [];
      for (const el of d.body.querySelectorAll('*')) {
        if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
        if (!el.getClientRects().length) continue;
        const size = parseFloat(getComputedStyle(el).fontSize);
        if (size < 14) out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' ' + size + 'px');
      }
      return out;
    })(),
    nesting: (() => {
      // Each reply (data-depth N, up to the indent cap) must sit to the
      // right of its parent, the nearest row before it at depth N-1.
      const rows = [...d.querySelectorAll('[data-depth]')];
      let pairs = 0, flat = 0;
      rows.forEach((r, i) => {
        const depth = +r.dataset.depth;
        if (depth < 1 || depth > 8) return;
        for (let j = i - 1; j >= 0; j--) {
          if (+rows[j].dataset.depth === depth - 1 && rows[j].parentNode === r.parentNode) {
            pairs++;
            if (r.getBoundingClientRect().left <= rows[j].getBoundingClientRect().left) flat++;
            break;
          }
        }
      });
      return {pairs, flat};
    })(),
  });
})()"""


AXE_RUN = r"""axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(
  r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\n').slice(1, 2).join('').trim()),
    count: v.nodes.length}))))"""


def axe_source():
    path = os.path.join(os.environ.get("ANNALS_AXE_DIR", "/var/cache/annals/axe"), "node_modules", "axe-core",
                        "axe.min.js")
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    outdir, urls = sys.argv[1], sys.argv[2:]
    os.makedirs(outdir, exist_ok=True)
    axe = axe_source()
    if axe is None:
        print("FAIL axe-core is not installed: run scripts/install-deps test (as root)")
        return 1
    port = free_port()
    profile = tempfile.mkdtemp(prefix="annals-chromium-")
    browser = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--user-data-dir=" + profile, "--remote-debugging-port=%d" % port, "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failures = 0
    try:
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json" % port))
                page = [t for t in targets if t.get("type") == "page"][0]
                break
            except Exception:
                time.sleep(0.1)
        else:
            print("FAIL chromium did not start")
            return 1
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        seq = [0]

        def call(method, **params):
            seq[0] += 1
            ws.send(json.dumps({"id": seq[0], "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == seq[0]:
                    if "error" in msg:
                        raise RuntimeError("%s: %s" % (method, msg["error"]))
                    return msg.get("result", {})

        call("Page.enable")
        for width in (360, 1280):
            call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=width < 500)
            for i, url in enumerate(urls):
                call("Page.navigate", url=url)
                for _ in range(100):
                    state = call("Runtime.evaluate", expression="document.readyState")["result"]["value"]
                    if state == "complete":
                        break
                    time.sleep(0.05)
                r = json.loads(call("Runtime.evaluate", expression=CHECK)["result"]["value"])
                problems = []
                if r["lang"] == "":
                    problems.append("no lang attribute")
                if r["h1"] != 1:
                    problems.append("%d h1 headings" % r["h1"])
                if r["scripts"]:
                    problems.append("a script element")
                if r["overflow"] > 0:
                    problems.append("%d px of horizontal overflow (%s)" % (r["overflow"], ", ".join(r["wide"])))
                if r["nesting"]["flat"]:
                    problems.append("%d replies not to the right of their parent" % r["nesting"]["flat"])
                if url.endswith("#nested") and r["nesting"]["pairs"] == 0:
                    problems.append("no nested replies to measure")
                if not r["viewport"]:
                    problems.append("no viewport meta")
                if r["small"]:
                    problems.append("text under 14 px: " + ", ".join(sorted(set(r["small"]))[:5]))
                if r["unlabelled"]:
                    problems.append("an input without a label")
                call("Runtime.evaluate", expression=axe)
                found = call("Runtime.evaluate", expression=AXE_RUN, awaitPromise=True, returnByValue=True)
                for v in json.loads(found["result"]["value"]):
                    problems.append("axe %s (%s, %d elements): %s [%s]" % (v["id"], v["impact"], v["count"], v["help"],
                                                                         " | ".join(v["nodes"])))
                shot = call("Page.captureScreenshot", format="png")["data"]
                name = os.path.join(outdir, "page%d-%dpx.png" % (i, width))
                with open(name, "wb") as fh:
                    fh.write(base64.b64decode(shot))
                status = "FAIL" if problems else "ok"
                failures += bool(problems)
                print("%s %dpx %s %s %s" % (status, width, url, "; ".join(problems), name))
        ws.close()
    finally:
        browser.terminate()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
