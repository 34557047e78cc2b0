"""The probe kit: ofedtool's feature probes as plain files a DKMS build can run without Python.

A DKMS package is built on the user's machine for whatever kernel is being installed, so
compat/config.h must be answered there, for that kernel. The kit is one kbuild directory
with one .c per probe (the same translation unit and flags the Python engine compiles, so
both give the same answers), a list of symbol probes answered from Module.symvers, and a
POSIX shell script that runs `make -k` over them and writes config.h from what compiled.

The SmPL rules were applied once, at generate time, for the reference target: their effect
is baked into the source and no header can undo it. So the script also compares every probe
named in a rule's `when` with the value the tree was generated with, and refuses a kernel
where one differs, instead of building code that is wrong for it.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from ..adapt.probes import _CFLAGS, _MAX_ROUNDS, MAX_BATCH, Probe, _translation_unit
from ..tree import Manifest

# Bump when the kit's layout or script changes: the per-kernel result cache is keyed by it.
KIT_VERSION = "5"


@dataclass(frozen=True)
class Pinned:
    """A probe whose value the generated source depends on (named in a SmPL rule's `when`)."""
    name: str
    value: bool
    rule: str


def pinned_probes(manifest: Manifest) -> list[Pinned]:
    """Every target probe named in an SmPL rule's `when` or a verb shim's condition (active or
    not), with its value at generate time: both changed the source, no header can undo them."""
    results = manifest.features
    out: dict[str, Pinned] = {}
    for rule in manifest.smpl:
        when = (rule.get("when") or "").strip()
        if not when:
            continue
        name = when.lstrip("!").strip()
        if name not in results:
            continue
        out.setdefault(name, Pinned(name, bool(results[name]), rule["file"]))
    if manifest.shims:
        from ..errors import OfedError
        from ..adapt.shims import load_shims
        by_name = {s.name: s for s in load_shims()}
    for row in manifest.shims:
        # the shim's own conditions (backports/shims), not the row's "why", which is for people
        shim = by_name.get(row["shim"])
        if shim is None:
            raise OfedError(f"verb shim {row['shim']} of this tree is no longer in backports/shims: regenerate the tree")
        for w in shim.when:
            name = w.lstrip("!").strip()
            if name.startswith("HAVE_") and name in results:
                out.setdefault(name, Pinned(name, bool(results[name]), f"shim {shim.name}"))
    return [out[k] for k in sorted(out)]


def fixed_features(manifest: Manifest) -> dict[str, bool]:
    """OFED_CORE_* facts: about our own backported core, decided at generate time, the same on
    every kernel the package builds for."""
    return {k: bool(v) for k, v in manifest.features.items() if k.startswith("OFED_CORE_")}


def fixed_list(manifest: Manifest) -> str:
    """The kit's fixed.list for a tree (one per variant: X -> X has its own OFED_CORE_* facts)."""
    return "".join(f"{k} {int(v)}\n" for k, v in sorted(fixed_features(manifest).items()))


@dataclass(frozen=True)
class Release:
    """The distro release a package is for: its name and an ERE every one of its kernels'
    releases (uname -r) matches, whatever the flavour."""
    name: str
    kernels: str


def write_kit(dest: Path, probes: list[Probe], pinned: list[Pinned], package: str,
              fixed: dict[str, bool] | None = None, release: Release | None = None, arch: str = "x86",
              variants: str | None = None, config: list[str] | None = None) -> list[str]:
    """Write the kit into dest (the package's probekit/ directory); returns the files written.
    With a release, the script refuses a kernel outside it first, in one line. variants: the
    variants.list (package.variants) of a package carrying several kernels' trees; without it,
    the kit accepts only the pinned values it was generated with. config: the HAVE_* the
    tree's config.h carries (default: every probe's), the kit's config.list."""
    dest.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    # A header probe asks whether the file exists, as the engine answers it (adapt.probes
    # _HeaderLookup): compiled alone, a header that is not self-contained (linux/randomize_kstack.h,
    # trace/misc/rdma.h) fails, and config.h on the node would differ from the build's.
    # Code probes are compiled as the engine compiles them (adapt.probes._Compiler): probes with
    # the same includes share a translation unit, each its own function after `#line 1
    # "probe-NAME.c"`, so gcc names the probe behind every error; a failing unit's innocent
    # members are compiled again without the guilty, the undecided alone. One unit per probe
    # cost 2.5x a plain kbuild of the tree on the node (issue 16 item 7).
    compiled = [p for p in probes if p.kind == "compile"]
    groups: dict[tuple[str, ...], str] = {}
    for p in compiled:
        groups.setdefault(p.includes, f"g{len(groups) + 1:03d}")
    for inc, g in groups.items():
        files[f"groups/{g}.h"] = f"/* generated by ofedtool: probes including {' '.join(inc) or 'nothing'} */\n" + \
            "".join(f"#include <{h}>\n" for h in inc)
    for p in compiled:
        # the engine's unit for this probe alone, less its comment and includes
        files[f"frags/{p.name}.c"] = "\n".join(_translation_unit([p]).split("\n")[1 + len(p.includes):])
    files["canary.c"] = (
        "#include <linux/types.h>\nint ofedtool_canary(void);\nint ofedtool_canary(void) { return 0; }\n")
    files["groups.list"] = "".join(f"{groups[p.includes]} {p.name}\n" for p in compiled)
    files["includes.list"] = "".join(f"{g} {h}\n" for inc, g in groups.items() for h in inc)
    files["top.list"] = "".join(f"{p.name}\n" for p in compiled if p.toplevel.strip())
    files["blame.awk"] = _BLAME
    files["plan.awk"] = _PLAN
    files["decide.awk"] = _DECIDE
    files["headers.list"] = "".join(f"{p.name} {p.header}\n" for p in probes if p.kind == "header")
    files["symbols.list"] = "".join(f"{p.name} {p.symbol}\n" for p in probes if p.kind == "symbol")
    files["pinned.list"] = "".join(f"{p.name} {int(p.value)} {p.rule}\n" for p in pinned)
    files["fixed.list"] = "".join(f"{k} {int(v)}\n" for k, v in sorted((fixed or {}).items()))
    files["config.list"] = "".join(f"{n}\n" for n in (config if config is not None else sorted(p.name for p in probes)))
    files["variants.list"] = variants if variants is not None else f". b{''.join(str(int(p.value)) for p in pinned)} -\n"
    files["probe.sh"] = (_SCRIPT.replace("@PACKAGE@", package).replace("@KIT@", KIT_VERSION)
                         .replace("@RELEASE@", release.name if release else "")
                         .replace("@RELEASE_KERNELS@", release.kernels if release else "")
                         .replace("@ARCH@", arch).replace("@CFLAGS@", _CFLAGS)
                         .replace("@ROUNDS@", str(_MAX_ROUNDS)).replace("@BATCH@", str(MAX_BATCH)))
    for rel, text in sorted(files.items()):
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    script = dest / "probe.sh"
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return sorted(files)


# POSIX sh (dash): DKMS runs it as MAKE[0]'s first step, in the build directory.
_SCRIPT = r"""#!/bin/sh
# Generated by ofedtool: answer the feature probes for one kernel and write compat/config.h.
# usage: probekit/probe.sh KERNELRELEASE KERNEL_BUILD_DIR   (run from the package's top dir)
# OFED_PROBE_JOBS: parallel compiles (default: the online CPUs).
# Results are cached per kernel release under probekit/cache/ (kit version @KIT@).
set -eu
kver=${1:?usage: probe.sh KERNELRELEASE KERNEL_BUILD_DIR}
kdir=${2:?usage: probe.sh KERNELRELEASE KERNEL_BUILD_DIR}
top=$(pwd)
kit=$top/probekit
cache=$kit/cache/$kver
me="@PACKAGE@"

die() { echo "$me: $*" >&2; exit 1; }

# The release this package is for (empty for a tree built against a local kernel dir): any other
# kernel is refused before anything runs, whatever dkms's BUILD_EXCLUSIVE let through.
release='@RELEASE@'
release_kernels='@RELEASE_KERNELS@'
if [ -n "$release_kernels" ] && ! printf '%s\n' "$kver" | grep -Eq "$release_kernels"; then
    die "kernel $kver is not a kernel of $release ($release_kernels): this package builds for those only"
fi

[ -f "$kdir/Makefile" ] || die "no kernel build tree at $kdir (install the headers for $kver)"

if [ ! -f "$cache/results" ]; then
    rm -rf "$cache"
    w=$cache/work
    mkdir -p "$w"
    jobs=${OFED_PROBE_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
    # make -Otarget (make >= 4) prints each object's diagnostics in one piece; without it, one
    # object at a time, or blame could go to the wrong probe.
    if make -Otarget -v > /dev/null 2>&1; then sync=-Otarget; else sync=; jobs=1; fi
    # kbuild's LINUXINCLUDE: the build dir and the source tree its Makefile includes (Debian's
    # split headers), arch/$arch and generated, uapi.
    src=$kdir
    [ -d "$kdir/include/linux" ] ||
        src=$(sed -n 's|^[[:space:]]*-\{0,1\}include[[:space:]]\{1,\}\(/[^[:space:]]*\)/Makefile[[:space:]]*$|\1|p' "$kdir/Makefile" | head -n 1)
    arch=@ARCH@
    has_header() {
        for d in "$src/arch/$arch/include" "$kdir/arch/$arch/include/generated" "$src/include" "$kdir/include" \
                 "$src/arch/$arch/include/uapi" "$kdir/arch/$arch/include/generated/uapi" "$src/include/uapi" \
                 "$kdir/include/generated/uapi"; do
            [ -f "$d/$1" ] && return 0
        done
        return 1
    }
    : > "$cache/results.tmp"
    while read -r name hdr; do
        if has_header "$hdr"; then v=1; else v=0; fi
        echo "$name $v" >> "$cache/results.tmp"
    done < "$kit/headers.list"
    # A code probe whose include is missing can only fail, and its fatal error would stop its
    # whole unit: answered without the compiler, as the engine does.
    : > "$w/nogroup"
    while read -r g hdr; do
        has_header "$hdr" || echo "$g" >> "$w/nogroup"
    done < "$kit/includes.list"
    awk -v out="$cache/results.tmp" 'FILENAME == ARGV[1] { no[$1] = 1; next }
        ($1 in no) { print $2 " 0" >> out; next } { print }' "$w/nogroup" "$kit/groups.list" > "$w/pending"
    : > "$w/alone"
    : > "$w/isolated"
    cp "$kit/canary.c" "$w/ofed_canary.c"
    # CC comes from DKMS (the kernel's compiler) when set. kbuild unexports LC_ALL: LANG decides
    # gcc's quotes, which blame.awk reads.
    kmake() {
        printf 'obj-m += %s\nccflags-y += %s\nOBJECT_FILES_NON_STANDARD := y\n' "$*" '@CFLAGS@' > "$w/Kbuild"
        LANG=C LC_ALL=C LC_MESSAGES=C make -C "$kdir" M="$w" -k -j"$jobs" $sync ${CC:+CC="$CC"} "$@" \
            > "$w/make.log" 2>&1 || :
        cat "$w/make.log" >> "$cache/make.log"
    }
    # Rounds, as the engine's: units of up to @BATCH@ probes with the same includes; after
    # @ROUNDS@ rounds every undecided probe is compiled alone.
    canary=ofed_canary.o
    rnd=1
    while [ -s "$w/pending" ] || [ -n "$canary" ]; do
        [ "$rnd" -gt @ROUNDS@ ] && cut -d ' ' -f 2 "$w/pending" >> "$w/alone"
        rm -f "$w"/r[0-9]*_*.c "$w"/r[0-9]*_*.o
        LC_ALL=C sort -k 2 "$w/pending" > "$w/pending.sorted"
        awk -v jobs="$jobs" -v rnd="$rnd" -v max=@BATCH@ -f "$kit/plan.awk" "$w/alone" "$w/isolated" \
            "$w/pending.sorted" > "$w/chunks"
        prev=
        while read -r stem g name; do
            if [ "$stem" != "$prev" ]; then cat "$kit/groups/$g.h" > "$w/$stem.c"; prev=$stem; fi
            cat "$kit/frags/$name.c" >> "$w/$stem.c"
        done < "$w/chunks"
        kmake $(awk '$1 != p { p = $1; print $1 ".o" }' "$w/chunks") $canary
        if [ -n "$canary" ]; then
            [ -f "$w/ofed_canary.o" ] ||
                die "cannot compile a trivial module against $kdir for $kver (see $cache/make.log)"
            canary=
        fi
        (cd "$w" && for o in r[0-9]*_*.o; do if [ -f "$o" ]; then echo "${o%.o}"; fi; done) > "$w/built"
        awk -f "$kit/blame.awk" "$w/make.log" > "$w/blame"
        : > "$w/pending.new"
        awk -v kit="$kit" -v out="$cache/results.tmp" -v dir="$w" -f "$kit/decide.awk" \
            "$kit/top.list" "$w/built" "$w/blame" "$w/chunks"
        mv "$w/pending.new" "$w/pending"
        rnd=$((rnd + 1))
    done
    while read -r name sym; do
        if awk -F '\t' -v s="$sym" '$2 == s { f = 1 } END { exit !f }' "$kdir/Module.symvers"; then v=1; else v=0; fi
        echo "$name $v" >> "$cache/results.tmp"
    done < "$kit/symbols.list"
    LC_ALL=C sort "$cache/results.tmp" > "$cache/results"
    rm -rf "$cache/results.tmp" "$cache/work"
fi

# The SmPL rules and verb shims baked into the source decided on these features: the variant
# whose values this kernel has is the tree for it (variants.list: KEY bBITS TARGETS, one bit per
# pinned.list line); none fits, the kernel needs a tree generated for it.
bits=b$(awk 'NR == FNR { r[$1] = $2; next } { printf "%s", ($1 in r ? r[$1] : "?") }' "$cache/results" "$kit/pinned.list")
key=$(awk -v b="$bits" '$2 == b { print $1; exit }' "$kit/variants.list")
if [ -z "$key" ]; then
    nvar=$(grep -c . "$kit/variants.list")
    if [ "$nvar" -le 1 ]; then
        # one tree: name the first feature that differs, and the rule it decided
        awk -v b="$bits" -v k="$kver" 'NR == FNR { want = substr($2, 2); next }
            { i++; got = substr(b, i + 1, 1); w = substr(want, i, 1)
              if (got != w) { printf "this package was generated for kernels where %s=%s; kernel %s %s (%s=%s, %s): regenerate with ofedtool\n",
                  $1, w, k, (got == 1 ? "has it" : "lacks it"), $1, got, ($3 == "shim" ? "shim " $4 : "SmPL " $3); exit } }' \
            "$kit/variants.list" "$kit/pinned.list" > "$cache/refusal"
    else
        awk -v b="$bits" -v k="$kver" 'NR == FNR { n++; name[n] = $1; next }
            { d = ""; for (i = 1; i <= n; i++) { w = substr($2, i + 1, 1); if (w != substr(b, i + 1, 1)) d = d (d == "" ? "" : " ") name[i] "=" w }
              s = s (s == "" ? "" : "; ") $3 " needs " d }
            END { printf "kernel %s fits none of this package'"'"'s trees (%s): regenerate with ofedtool\n", k, s }' \
            "$kit/pinned.list" "$kit/variants.list" > "$cache/refusal"
    fi
    die "$(cat "$cache/refusal")"
fi

# dkms builds in a fresh copy of the source for every kernel; by hand, a second kernel in the
# same directory starts again from the reference tree, kept in variants/.orig.
vdir=$top/variants
if [ -s "$vdir/touched.list" ]; then
    if [ ! -d "$vdir/.orig" ]; then
        rm -rf "$vdir/.orig.tmp"
        while read -r f; do
            if [ -f "$top/$f" ]; then mkdir -p "$(dirname "$vdir/.orig.tmp/$f")"; cp "$top/$f" "$vdir/.orig.tmp/$f"; fi
        done < "$vdir/touched.list"
        mkdir -p "$vdir/.orig.tmp"
        mv "$vdir/.orig.tmp" "$vdir/.orig"
    fi
    while read -r f; do
        if [ -f "$vdir/.orig/$f" ]; then cp "$vdir/.orig/$f" "$top/$f"; else rm -f "$top/$f"; fi
    done < "$vdir/touched.list"
    if [ "$key" != . ]; then
        (cd "$vdir/$key" && find . -type f) | while read -r f; do
            f=${f#./}
            mkdir -p "$(dirname "$top/$f")"
            cp "$vdir/$key/$f" "$top/$f"
        done
        if [ -f "$vdir/$key.gone" ]; then
            while read -r f; do rm -f "$top/$f"; done < "$vdir/$key.gone"
        fi
    fi
fi
if [ "$key" = . ]; then tree="the reference tree"; else tree="variant $key"; fi

{
    echo "/* config.h: target kernel features found by ofedtool's probes. Generated: do not edit. */"
    echo "#ifndef _OFEDTOOL_COMPAT_CONFIG_H"
    echo "#define _OFEDTOOL_COMPAT_CONFIG_H"
    echo ""
    # the names the tree in place carries (config.list, a variant's own once it is in place): a
    # probe answered only to choose the variant is not the tree's
    awk 'NR == FNR { want[$1] = 1; next } ($1 in want)' "$kit/config.list" "$cache/results" |
        cat - "$kit/fixed.list" | LC_ALL=C sort | while read -r name v; do
        if [ "$v" = 1 ]; then echo "#define $name 1"; else echo "/* #undef $name */"; fi
    done
    echo ""
    echo "#endif /* _OFEDTOOL_COMPAT_CONFIG_H */"
} > "$top/compat/config.h.tmp"
mv "$top/compat/config.h.tmp" "$top/compat/config.h"
echo "$me: probes for $kver: $(grep -c ' 1$' "$cache/results") present, $(grep -c ' 0$' "$cache/results") absent; building $tree"
"""


# The engine's adapt.probes._blame, in POSIX awk: which probe each gcc error belongs to, from
# the make log of one round. Prints "NAME HARD IMPLICIT..." per blamed probe (HARD 1: an error
# that is not a -Werror= warning; IMPLICIT: functions gcc declared implicitly) and "! 1" for a
# hard error no probe can be blamed for. An error still unclaimed when make's next target
# begins counts as unclaimed (the engine forgets it; counting it only costs a round).
_BLAME = r"""
function probe_of(file,   f) {
    if (match(file, /(^|\/)probe-[A-Z0-9_]+\.c$/)) {
        f = substr(file, RSTART, RLENGTH); sub(/^.*probe-/, "", f); sub(/\.c$/, "", f); return f
    }
    return ""
}
function charge(n, msg, hard,   f) {
    if (!(n in first)) { first[n] = 1; names[++count] = n }
    if (hard) H[n] = 1
    if (match(msg, /implicit declaration of (built-in )?function .[A-Za-z_][A-Za-z0-9_]*./)) {
        f = substr(msg, RSTART, RLENGTH - 1); sub(/^.* function ./, "", f); I[n] = I[n] " " f
    }
}
function flush() { if (dangling) unclaimed = unclaimed || dhard; dangling = 0 }
/^[ \t]+CC \[M\][ \t]/ || /^make(\[[0-9]+\])?: / { flush(); context = ""; next }
/^([^ \t:][^:]*: )?In function / {
    file = $0; sub(/: In function .*$/, "", file); if (file ~ /^In function /) file = ""
    context = probe_of(file)
    if (context == "" && match($0, /In function .ofed_probe_[A-Z0-9_]+./)) {
        context = substr($0, RSTART + 24, RLENGTH - 25)
    }
    next
}
/: At top level:$/ { context = ""; next }
/^[ \t]+inlined from .ofed_probe_[A-Z0-9_]+./ {
    match($0, /ofed_probe_[A-Z0-9_]+/); context = substr($0, RSTART + 11, RLENGTH - 11); next
}
/^[^ \t:][^:]*:[0-9]+:([0-9]+:)? (fatal error|error|warning|note): / {
    file = $0; sub(/:[0-9]+:([0-9]+:)? (fatal error|error|warning|note): .*$/, "", file)
    rest = substr($0, length(file) + 2); sub(/^[0-9]+:([0-9]+:)? /, "", rest)
    sev = rest; sub(/: .*$/, "", sev); msg = substr(rest, length(sev) + 3)
    at = probe_of(file)
    if (sev == "note") { if (dangling && at != "") { charge(at, dmsg, dhard); dangling = 0 } next }
    flush()
    if (sev == "warning") next
    hard = index(msg, "[-Werror=") == 0
    name = at != "" ? at : context
    if (name != "") charge(name, msg, hard)
    else { dangling = 1; dmsg = msg; dhard = hard }
}
END {
    flush()
    for (i = 1; i <= count; i++) { n = names[i]; print n, ((n in H) ? 1 : 0) I[n] }
    if (unclaimed) print "! 1"
}
"""

# The engine's _Compiler._plan: one round's units ("STEM GROUP NAME" lines, in unit order).
# Arguments: the alone list, the isolated list, the pending probes ("GROUP NAME", by name).
_PLAN = r"""
FILENAME == ARGV[1] { alone[$1] = 1; next }
FILENAME == ARGV[2] { iso[$1] = 1; next }
{
    if ($2 in alone) { nc++; size[nc] = 1; cn[nc, 1] = $2; cg[nc, 1] = $1; next }
    key = ($2 in iso) ? "i" $1 : $1
    if (!(key in cnt)) { keys[++nk] = key; cnt[key] = 0 }
    cnt[key]++; gn[key, cnt[key]] = $2; gg[key, cnt[key]] = $1
}
END {
    for (k = 1; k <= nk; k++) {
        key = keys[k]
        for (i = 1; i <= cnt[key]; i++) {
            if ((i - 1) % max == 0) { nc++; size[nc] = 0 }
            size[nc]++; cn[nc, size[nc]] = gn[key, i]; cg[nc, size[nc]] = gg[key, i]
        }
    }
    # fewer units than jobs leaves cores idle: split the largest
    live = nc
    while (live < jobs) {
        big = 0
        for (c = 1; c <= nc; c++) if (!dead[c] && (big == 0 || size[c] > size[big])) big = c
        if (big == 0 || size[big] < 2) break
        half = int(size[big] / 2)
        nc++; size[nc] = 0
        for (i = 1; i <= half; i++) { size[nc]++; cn[nc, i] = cn[big, i]; cg[nc, i] = cg[big, i] }
        nc++; size[nc] = 0
        for (i = half + 1; i <= size[big]; i++) { size[nc]++; cn[nc, size[nc]] = cn[big, i]; cg[nc, size[nc]] = cg[big, i] }
        dead[big] = 1; live++
    }
    u = 0
    for (c = 1; c <= nc; c++) {
        if (dead[c]) continue
        u++; stem = sprintf("r%d_%04d", rnd, u)
        for (i = 1; i <= size[c]; i++) print stem, cg[c, i], cn[c, i]
    }
}
"""

# The engine's verdicts on one round (_Compiler.run): appends "NAME 0|1" to out, writes the
# probes still undecided to dir/pending.new and adds to dir/alone and dir/isolated.
# Arguments: top.list (probes with top-level code), the built units, blame.awk's output, the units.
_DECIDE = r"""
function mentions(n, list,   f, text, line, k, parts, i) {
    f = kit "/frags/" n ".c"; text = ""
    while ((getline line < f) > 0) text = text "\n" line
    close(f)
    k = split(list, parts, " ")
    for (i = 1; i <= k; i++) if (match(text, "(^|[^A-Za-z0-9_])" parts[i] "([^A-Za-z0-9_]|$)")) return 1
    return 0
}
function again(n) { print grp[n], n >> (dir "/pending.new") }
FILENAME == ARGV[1] { top[$1] = 1; next }
FILENAME == ARGV[2] { built[$1] = 1; next }
FILENAME == ARGV[3] {
    if ($1 == "!") { unclaimed = 1; next }
    blamed[$1] = 1; if ($2 == 1) hard[$1] = 1
    for (i = 3; i <= NF; i++) { implicit[$1] = 1; undeclared_of[$1] = undeclared_of[$1] " " $i }
    next
}
{
    if (!($1 in n)) { stems[++ns] = $1; n[$1] = 0 }
    n[$1]++; mem[$1, n[$1]] = $3; grp[$3] = $2
}
END {
    for (s = 1; s <= ns; s++) {
        st = stems[s]; k = n[st]
        if (st in built) { for (i = 1; i <= k; i++) print mem[st, i] " 1" >> out; continue }
        if (k == 1) { print mem[st, 1] " 0" >> out; continue }
        guilty = 0; complete = !unclaimed; undeclared = ""; tops = 0
        for (i = 1; i <= k; i++) {
            m = mem[st, i]
            if (m in top) tops++
            if (m in blamed) {
                guilty++
                if ((m in hard) || (m in implicit)) complete = 0
                undeclared = undeclared undeclared_of[m]
            }
        }
        if (!guilty) {
            for (i = 1; i <= k; i++) { print mem[st, i] >> (dir "/alone"); again(mem[st, i]) }
            continue
        }
        for (i = 1; i <= k; i++) {
            m = mem[st, i]
            if (!(m in blamed)) {
                if (complete) print m " 1" >> out
                else { if (undeclared != "" && mentions(m, undeclared)) print m >> (dir "/alone"); again(m) }
            } else if (tops - ((m in top) ? 1 : 0) > 0) {
                # a neighbour's top-level code could have caused it
                print m >> (dir ((m in top) ? "/alone" : "/isolated")); again(m)
            } else print m " 0" >> out
        }
    }
}
"""
