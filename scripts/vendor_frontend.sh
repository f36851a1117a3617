#!/usr/bin/env bash
# Vendor the browser libraries used by the web UI into static/vendor/.
#
# For each package below this script runs `npm pack <pkg>@<range>` in a
# temporary directory (so nothing is installed into the project), extracts the
# tarball, copies only the listed files into static/vendor/<short-name>/, copies
# the package's LICENSE file(s) next to them, strips `sourceMappingURL` comment
# lines (the .map files are not vendored), and writes static/vendor/manifest.json
# with the version, license and sha256/size of every file as written.
#
# Re-runnable: everything under static/vendor/ is regenerated, except README.md,
# which is kept as is. The new tree is built completely in the temporary
# directory first, so a failed run leaves the existing static/vendor/ untouched.
#
# Usage: scripts/vendor_frontend.sh        (needs npm, tar and python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR_REL="static/vendor"
VENDOR="$ROOT/$VENDOR_REL"

# One package per line:
#   package | semver range | fallback range ("-" for none) | short name | src=dest ...
# src is the path inside the npm tarball's package/ directory; dest is the path
# below static/vendor/<short-name>/. A src with a `*` is a glob and its dest a
# directory ending in `/`: every matching file is copied there under its own name.
PACKAGES=(
  "vue|3.5|-|vue|dist/vue.global.prod.js=vue.global.prod.js"
  "element-plus|2.14|2|element-plus|dist/index.full.min.js=index.full.min.js dist/index.css=index.css dist/locale/zh-cn.min.js=locale/zh-cn.min.js theme-chalk/dark/css-vars.css=dark-css-vars.css"
  "@element-plus/icons-vue|2.3|-|element-plus-icons|dist/index.iife.min.js=index.iife.min.js"
  "markdown-it|15|-|markdown-it|dist/browser/markdown-it.umd.min.js=markdown-it.min.js"
  "@highlightjs/cdn-assets|11|-|highlightjs|highlight.min.js=highlight.min.js styles/github.min.css=styles/github.min.css styles/github-dark.min.css=styles/github-dark.min.css"
  "dompurify|3.4|3|dompurify|dist/purify.min.js=purify.min.js"
  "echarts|6|5|echarts|dist/echarts.min.js=echarts.min.js"
  "katex|0.19|0.16|katex|dist/katex.min.js=katex.min.js dist/katex.min.css=katex.min.css dist/fonts/*.woff2=fonts/"
  "mermaid|12|11|mermaid|dist/mermaid.min.js=mermaid.min.js"
)

for tool in npm tar python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool not found" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vendor_frontend.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/stage"          # becomes static/vendor/
mkdir -p "$STAGE"
: > "$WORK/entries.tsv"      # one line per package, read by the python step

# True if some published version of $1 matches range $2; false only on a
# "no such version" answer, any other npm failure aborts the script.
have_version() {
  local out
  if out="$(npm view "$1@$2" version --json 2>/dev/null)"; then
    [ -n "$out" ]
    return
  fi
  case "$out" in
    *'"E404"'*|*'"ETARGET"'*) return 1 ;;
  esac
  echo "error: npm view $1@$2 failed:" >&2
  echo "$out" >&2
  exit 1
}

for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r pkg range fallback short files <<<"$entry"

  spec="$pkg@$range"
  if [ "$fallback" != "-" ] && ! have_version "$pkg" "$range"; then
    echo "note: no version of $pkg matches $range, falling back to $pkg@$fallback"
    spec="$pkg@$fallback"
  fi

  echo "==> npm pack $spec"
  pkdir="$WORK/pack/$short"
  mkdir -p "$pkdir"
  tgz="$(cd "$pkdir" && npm pack "$spec" --ignore-scripts --silent | tail -n 1)"
  [ -f "$pkdir/$tgz" ] || { echo "error: npm pack $spec produced no tarball" >&2; exit 1; }
  tar -xzf "$pkdir/$tgz" -C "$pkdir"
  # npm tarballs have a single top-level directory, normally package/.
  src_root="$(find "$pkdir" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
  [ -f "$src_root/package.json" ] || { echo "error: no package.json in $tgz" >&2; exit 1; }

  printf '%s\t%s\t%s\t%s\t%s\n' "$pkg" "$short" "$src_root" "$files" "$tgz" >> "$WORK/entries.tsv"
done

echo "==> copying files"
python3 - "$WORK/entries.tsv" "$STAGE" "$VENDOR_REL" <<'PY'
import glob, hashlib, json, os, re, sys

entries_path, stage, vendor_rel = sys.argv[1:4]

# Whole lines holding only a source-map comment: //# or //@ (JS), /*# ... */ (CSS).
SOURCEMAP_LINE = re.compile(
    r"^[ \t]*(?://[#@][ \t]*sourceMappingURL=[^\r\n]*|/\*[#@][ \t]*sourceMappingURL=[^\r\n]*?\*/[ \t]*)(?:\r?\n|$)",
    re.MULTILINE,
)

def strip_sourcemaps(data: bytes):
    text = data.decode("utf-8")
    new, n = SOURCEMAP_LINE.subn("", text)
    # Don't leave a dangling newline where the comment was the last line.
    if n and not text.endswith("\n") and new.endswith("\n"):
        new = new[:-1]
    return new.encode("utf-8"), n

def license_text(meta):
    lic = meta.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    if not lic and isinstance(meta.get("licenses"), list):
        lic = " OR ".join(l.get("type", "?") for l in meta["licenses"])
    return lic or "UNKNOWN"

manifest = []
with open(entries_path, encoding="utf-8") as fh:
    for line in fh:
        pkg, short, src_root, files, tgz = line.rstrip("\n").split("\t")
        with open(os.path.join(src_root, "package.json"), encoding="utf-8") as pj:
            meta = json.load(pj)
        version = meta["version"]
        if meta.get("name") != pkg:
            sys.exit(f"error: {tgz} is {meta.get('name')!r}, expected {pkg!r}")
        print(f"  {pkg}@{version} ({license_text(meta)}) -> {vendor_rel}/{short}/")

        copies = []
        for pair in files.split():
            src, dest = pair.split("=", 1)
            if "*" not in src:
                copies.append((src, dest))
                continue
            matches = sorted(glob.glob(os.path.join(src_root, src)))
            if not matches or not dest.endswith("/"):
                sys.exit(f"error: {pkg}@{version}: {src} matches nothing or {dest} is not a directory")
            copies.extend((os.path.relpath(m, src_root), dest + os.path.basename(m)) for m in matches)
        # LICENSE file, whatever it is called, copied as LICENSE. Extra license
        # files (e.g. dompurify's LICENSE-MPL for its dual licence) keep their names.
        lic_files = sorted(
            p for p in glob.glob(os.path.join(src_root, "*"))
            if os.path.isfile(p) and re.match(r"(?i)^(licen[cs]e|copying)([.-].*)?$", os.path.basename(p))
        )
        if not lic_files:
            sys.exit(f"error: {pkg}@{version} has no LICENSE file")
        primary = next((p for p in lic_files
                        if re.match(r"(?i)^licen[cs]e(\.(md|txt))?$", os.path.basename(p))), lic_files[0])
        copies.append((os.path.relpath(primary, src_root), "LICENSE"))
        for p in lic_files:
            if p != primary:
                copies.append((os.path.relpath(p, src_root), os.path.basename(p)))

        out_files = []
        for src, dest in copies:
            src_path = os.path.join(src_root, src)
            if not os.path.isfile(src_path):
                sys.exit(f"error: {pkg}@{version} has no file {src}")
            with open(src_path, "rb") as f:
                data = f.read()
            note = ""
            if dest.endswith((".js", ".css", ".mjs")):
                data, n = strip_sourcemaps(data)
                if n:
                    note = f"  (stripped {n} sourceMappingURL line{'s' if n > 1 else ''})"
            if not data:
                sys.exit(f"error: {pkg}@{version}: {src} is empty")
            dest_path = os.path.join(stage, short, dest)
            os.makedirs(os.path.dirname(dest_path), exist_ok=True)
            with open(dest_path, "wb") as f:
                f.write(data)
            rel = f"{vendor_rel}/{short}/{dest}"
            out_files.append({"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
            print(f"    {src} -> {rel}  {len(data)} bytes{note}")

        manifest.append({
            "package": pkg,
            "version": version,
            "license": license_text(meta),
            "files": out_files,
        })

with open(os.path.join(stage, "manifest.json"), "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
print(f"  wrote {vendor_rel}/manifest.json ({len(manifest)} packages)")
PY

echo "==> installing into $VENDOR_REL/"
mkdir -p "$VENDOR"
# Remove everything that is there now except README.md, then move the new tree in.
shopt -s nullglob dotglob
for old in "$VENDOR"/*; do
  [ "$(basename "$old")" = "README.md" ] && continue
  rm -rf -- "$old"
done
for new in "$STAGE"/*; do
  mv -- "$new" "$VENDOR/"
done
shopt -u nullglob dotglob

echo "done: $(find "$VENDOR" -type f ! -name README.md | wc -l) files in $VENDOR_REL/"
