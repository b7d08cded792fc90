#!/usr/bin/env bash
# shellcheck disable=SC2016  # dpkg-query formats (${Status}) are meant literally
# The package test (docs/packaging.md §7). Builds the .deb and the .rpm with cpack from a Release
# build, lints them (lintian, rpmlint: errors fail), installs the .deb into a clean Debian 12 root
# made by debootstrap and runs the binaries and the package's life cycle there (install, service
# user and directories, --help against docs/packaging.md, format and start of a node and a
# controller as the service user, reinstall keeping modified configuration, remove, purge),
# checks the .rpm's contents and dependencies with rpm -qpl / -qpR and runs its scriptlets in the
# same root (rpm --root), and asserts every binary is smaller than 15 MB. Prints every check;
# exits non-zero on the first failure.
#
#   tests/packaging/test_packages.sh [BUILD_DIR]      (default BUILD_DIR: build/packages)
#
# Environment:
#   TC_PKG_CACHE=DIR        keep the debootstrap'd root as a tarball in DIR (reruns: seconds)
#   TC_PKG_MIRROR=URL       Debian mirror for debootstrap (default: apt's own, else deb.debian.org)
#   TC_PKG_SKIP_CHROOT=1    skip the chroot checks (no mirror reachable); reported as SKIPPED
#   TC_PKG_STATIC=1         build with -DTC_STATIC=ON (docs/packaging.md §6)
#   TC_PKG_JOBS=N           build parallelism (default 2)
#   TC_PKG_KEEP=1           keep the work directory (chroot included) for inspection
# Needs root (debootstrap, chroot) for the chroot checks, and the Debian packages cmake,
# build-essential (binutils: readelf; dpkg-dev: dpkg-shlibdeps), lintian, rpmlint, rpm (rpmbuild),
# rpm2cpio, cpio, debootstrap, debian-archive-keyring, systemd (systemd-analyze), curl, iproute2.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/packages}
mkdir -p "$build"
build=$(cd "$build" && pwd)
# The mirror apt itself uses (deb822 debian.sources or a one-line sources.list) is the one most
# likely reachable from this machine; deb.debian.org otherwise.
apt_mirror() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { print ($2 ~ /^\[/ ? $3 : $2); exit }' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
mirror=${TC_PKG_MIRROR:-$(apt_mirror)}
jobs=${TC_PKG_JOBS:-2}
size_max=$((15 * 1024 * 1024))
work=$build/package-test
croot=$work/chroot
t0=$(date +%s)
pids=()
chroot_state="not run"

elapsed() { echo $(($(date +%s) - t0)); }
step() { printf '\n== %s [%ss]\n' "$*" "$(elapsed)"; }
ok() { printf '  ok    %s\n' "$*"; }
note() { printf '  note  %s\n' "$*"; }
fail() {
    printf '  FAIL  %s\n' "$*" >&2
    printf '\n== package test FAILED after %ss\n' "$(elapsed)" >&2
    exit 1
}
# expect WHAT EXPECTED ACTUAL
expect() {
    if [ "$2" = "$3" ]; then ok "$1: $3"; else fail "$1: expected '$2', got '$3'"; fi
}
# Runs a command, showing its log tail when it fails.
run_logged() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        fail "$* (log: $log)"
    fi
}

cleanup() {
    local pid proc
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    # Anything still running inside this test's chroot (and only there): stop it by pid.
    if [ -d "$croot" ]; then
        for proc in /proc/[0-9]*; do
            if [ "$(readlink "$proc/root" 2>/dev/null)" = "$croot" ]; then
                echo "package test: stopping leftover pid ${proc#/proc/} in the chroot" >&2
                kill -KILL "${proc#/proc/}" 2>/dev/null || true
            fi
        done
    fi
    if [ -d "$croot" ] && grep -q " $croot" /proc/mounts; then
        echo "package test: $croot still has mounts; not removing it" >&2
        return
    fi
    if [ "${TC_PKG_KEEP:-0}" != 1 ] && [ -d "$work" ]; then
        rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT

# Root commands in the chroot: a clean environment.
in_root() {
    chroot "$croot" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}
# The service user's commands in the chroot.
as_tc() {
    chroot --userspec=tigerchat:tigerchat "$croot" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/var/lib/tigerchat LC_ALL=C.UTF-8 "$@"
}
stat_in_root() { in_root stat -c "$1" "$2"; }
hash_in_root() { sha256sum "$croot$1" | cut -c1-16; }

# A block of 4 free TCP ports on loopback (the chroot shares the host's network).
pick_ports() {
    local used base i free
    used=$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u)
    for _ in $(seq 1 100); do
        base=$((20000 + RANDOM % 20000))
        free=1
        for i in 0 1 2 3; do
            if grep -qx "$((base + i))" <<<"$used"; then free=0; fi
        done
        if [ $free = 1 ]; then
            echo "$base"
            return
        fi
    done
    fail "no free block of 4 ports"
}

# The block of docs/packaging.md between <!-- help:NAME --> and the closing ``` fence.
docs_help() {
    awk -v marker="<!-- help:$1 -->" '
        $0 == marker { found = 1; next }
        found == 1 && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$root/docs/packaging.md"
}

echo "package test: source $root, build $build"

step "0. tools"
tools=(cmake cpack lintian rpmlint rpm rpmbuild rpm2cpio cpio dpkg-deb readelf systemd-analyze sha256sum)
if [ "${TC_PKG_SKIP_CHROOT:-0}" != 1 ]; then tools+=(debootstrap chroot curl ss); fi
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/deps.sh lists the packages)"
done
ok "${tools[*]}"
if [ "${TC_PKG_SKIP_CHROOT:-0}" != 1 ] && [ "$(id -u)" != 0 ]; then
    fail "the chroot checks need root (debootstrap, chroot); run as root or set TC_PKG_SKIP_CHROOT=1"
fi
rm -rf --one-file-system "$work"
mkdir -p "$work"

step "1. build (Release) and cpack -G DEB / -G RPM"
static=OFF
if [ "${TC_PKG_STATIC:-0}" = 1 ]; then static=ON; fi
# Debian's dpkg-buildflags hardening for the compiled objects; full RELRO and bindnow come from
# cmake/tc_packaging.cmake, PIE from Debian's gcc.
hardening="-D_FORTIFY_SOURCE=2 -fstack-protector-strong"
run_logged "$work/cmake.log" cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON "-DCMAKE_C_FLAGS=$hardening" -DTC_STATIC=$static
binaries=(tigerchat-node tigerchat-controller tigerctl)
targets=$(cmake --build "$build" --target help)
if grep -qw tigerchat-tui <<<"$targets"; then binaries+=(tigerchat-tui); fi
ok "configured: CMAKE_BUILD_TYPE=Release, CMAKE_C_FLAGS='$hardening', TC_STATIC=$static"
run_logged "$work/build.log" cmake --build "$build" -j"$jobs" --target "${binaries[@]}"
ok "built ${binaries[*]}"
rm -rf "$build/packages"
run_logged "$work/cpack-deb.log" bash -c "cd '$build' && cpack -G DEB"
run_logged "$work/cpack-rpm.log" bash -c "cd '$build' && cpack -G RPM"
deb=$(ls "$build"/packages/tigerchat_*.deb)
rpm=$(ls "$build"/packages/tigerchat-*.rpm)
ok "$(basename "$deb") ($(stat -c %s "$deb") bytes)"
ok "$(basename "$rpm") ($(stat -c %s "$rpm") bytes)"
version=$(dpkg-deb -f "$deb" Version)

step "2. binary sizes (< 15 MB each: build tree with debug info, and as packaged)"
mkdir -p "$work/deb-root"
dpkg-deb -x "$deb" "$work/deb-root"
for binary in "${binaries[@]}"; do
    built=$(find "$build" \( -path "$work" -o -path "$build/_CPack_Packages" \) -prune -o -type f \
        -name "$binary" -perm -u+x -print -quit)
    [ -n "$built" ] || fail "$binary not found in $build"
    packaged=$work/deb-root/usr/bin/$binary
    [ -f "$packaged" ] || fail "$binary is not in the .deb"
    b=$(stat -c %s "$built")
    p=$(stat -c %s "$packaged")
    [ "$b" -lt $size_max ] || fail "$binary is $b bytes in the build tree (limit $size_max)"
    [ "$p" -lt $size_max ] || fail "$binary is $p bytes packaged (limit $size_max)"
    ok "$(printf '%-22s build %9d bytes, packaged (stripped) %9d bytes' "$binary" "$b" "$p")"
done

step "3. .deb metadata, maintainer scripts, units"
depends=$(dpkg-deb -f "$deb" Depends)
ok "Depends: $depends"
ldconfig -p >"$work/ldconfig.txt"
for lib in $(for b in "${binaries[@]}"; do readelf -d "$work/deb-root/usr/bin/$b"; done |
    sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort -u); do
    # The host's copy the binaries were linked against (64-bit), and the package that owns it.
    path=$(awk -v lib="$lib" '$1 == lib && /x86-64/ {print $NF; exit}' "$work/ldconfig.txt")
    [ -n "$path" ] || fail "ldconfig does not know $lib"
    pkg=""
    for candidate in "$path" "/usr$path" "${path#/usr}"; do   # merged /usr: either spelling
        pkg=$( (dpkg -S "$candidate" 2>/dev/null || true) | awk -F: 'NR == 1 {print $1}')
        if [ -n "$pkg" ]; then break; fi
    done
    [ -n "$pkg" ] || fail "no installed package provides $lib ($path)"
    grep -qE "(^|, )$pkg( |,|$)" <<<"$depends" || fail "Depends lacks $pkg (for $lib)"
done
ok "every NEEDED library's package is in Depends (shlibdeps)"
grep -qE '(^|, )adduser(,|$| )' <<<"$depends" || fail "Depends lacks adduser (postinst)"
ok "Depends has adduser (postinst)"
mkdir -p "$work/control"
dpkg-deb -e "$deb" "$work/control"
expect "conffiles" "/etc/tigerchat/controller.env /etc/tigerchat/node.conf" \
    "$(sort "$work/control/conffiles" | tr '\n' ' ' | sed 's/ $//')"
for script in postinst prerm postrm; do
    [ -x "$work/control/$script" ] || fail "$script missing or not executable"
    sh -n "$work/control/$script" || fail "$script: syntax error"
done
ok "postinst, prerm, postrm: present, executable, sh -n clean"
mkdir -p "$work/units"
for unit in tigerchat-node tigerchat-controller; do
    file=$work/deb-root/usr/lib/systemd/system/$unit.service
    [ -f "$file" ] || fail "$unit.service is not in the .deb"
    for key in NoNewPrivileges=yes ProtectSystem=strict ReadWritePaths=/var/lib/tigerchat \
        PrivateTmp=yes ProtectHome=yes User=tigerchat Restart=on-failure; do
        grep -qx "$key" "$file" || fail "$unit.service lacks $key"
    done
    # systemd-analyze verify checks ExecStart on this host's files: point it at the extracted copy.
    sed "s#/usr/bin/#$work/deb-root/usr/bin/#" "$file" >"$work/units/$unit.service"
done
run_logged "$work/verify.log" systemd-analyze verify --man=no "$work"/units/*.service
ok "systemd-analyze verify: both units clean"
for unit in tigerchat-node tigerchat-controller; do
    exposure=$(systemd-analyze security --offline=true --root="$work/deb-root" "$unit.service" 2>&1 |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level for $unit"
    systemd-analyze security --offline=true --threshold=20 --root="$work/deb-root" \
        "$unit.service" >/dev/null 2>&1 || fail "$unit.service exposure $exposure > 2.0"
    ok "$unit.service: hardening keys present, systemd-analyze security exposure $exposure (limit 2.0)"
done

step "4. lintian (.deb) and rpmlint (.rpm): errors fail"
lintian_rc=0
lintian --fail-on error --display-info --pedantic "$deb" >"$work/lintian.log" 2>&1 || lintian_rc=$?
lintian_out=$(grep -v 'running with root privileges' "$work/lintian.log" || true)
if [ -n "$lintian_out" ]; then printf '%s\n' "$lintian_out" | sed 's/^/        /'; fi
[ "$lintian_rc" = 0 ] || fail "lintian reports errors (exit $lintian_rc)"
ok "lintian --pedantic --display-info: $(grep -c '^E:' <<<"$lintian_out" || true) errors, $(grep -c '^W:' <<<"$lintian_out" || true) warnings, $(grep -cE '^(I|P):' <<<"$lintian_out" || true) info/pedantic (overrides: packaging/lintian/tigerchat)"
rpmlint_rc=0
rpmlint -c "$root/packaging/rpmlint/tigerchat.toml" "$rpm" >"$work/rpmlint.log" 2>&1 || rpmlint_rc=$?
rpmlint_out=$(cat "$work/rpmlint.log")
grep -E ': [EW]: |packages and' <<<"$rpmlint_out" | sed 's/^/        /' || true
[ "$rpmlint_rc" = 0 ] || fail "rpmlint reports errors (exit $rpmlint_rc)"
ok "rpmlint: $(grep -c ': E: ' <<<"$rpmlint_out" || true) errors, $(grep -c ': W: ' <<<"$rpmlint_out" || true) warnings (filters: packaging/rpmlint/tigerchat.toml)"

step "5. the .rpm: rpm -qpl (contents), rpm -qpR (dependencies)"
expected_files=$(
    {
        printf '%s\n' /etc/tigerchat /etc/tigerchat/controller.env /etc/tigerchat/node.conf \
            /usr/lib/systemd/system/tigerchat-controller.service \
            /usr/lib/systemd/system/tigerchat-node.service /usr/share/doc/tigerchat \
            /usr/share/doc/tigerchat/README.md /usr/share/doc/tigerchat/copyright \
            /var/lib/tigerchat /var/lib/tigerchat/controller /var/lib/tigerchat/node
        for b in "${binaries[@]}"; do
            echo "/usr/bin/$b"
            echo "/usr/share/man/man1/$b.1.gz"
        done
    } | sort
)
actual_files=$(rpm -qpl "$rpm" | sort)
if [ "$expected_files" != "$actual_files" ]; then
    diff <(echo "$expected_files") <(echo "$actual_files") >&2 || true
    fail "rpm -qpl differs from the expected file list (< expected, > actual)"
fi
ok "rpm -qpl: exactly the $(wc -l <<<"$actual_files") expected paths"
attrs=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm")
for conf in /etc/tigerchat/node.conf /etc/tigerchat/controller.env; do
    grep -qE "^-rw-r--r-- root:root cn $conf\$" <<<"$attrs" || fail "$conf is not %config(noreplace) 0644 root"
done
ok "/etc/tigerchat/node.conf, controller.env: %config(noreplace), 0644 root:root"
for dir in /var/lib/tigerchat /var/lib/tigerchat/node /var/lib/tigerchat/controller; do
    grep -qE "^drwxr-x--- tigerchat:tigerchat +$dir\$" <<<"$attrs" || fail "$dir is not 0750 tigerchat:tigerchat"
done
ok "/var/lib/tigerchat{,/node,/controller}: %dir 0750 tigerchat:tigerchat"
requires=$(rpm -qpR "$rpm" | sed 's/ *$//' | sort -u)
mkdir -p "$work/rpm-root"
(cd "$work/rpm-root" && rpm2cpio "$rpm" | cpio -idm --quiet)
needed=$(for b in "${binaries[@]}"; do readelf -d "$work/rpm-root/usr/bin/$b"; done |
    sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort -u)
for lib in $needed; do
    grep -qxF "$lib()(64bit)" <<<"$requires" || fail "rpm -qpR lacks $lib()(64bit)"
done
ok "rpm -qpR has every NEEDED soname: $(tr '\n' ' ' <<<"$needed")"
for lib in $(grep -oE '^lib[^(]+\.so[^(]*' <<<"$requires" | sort -u); do
    grep -qxF "$lib" <<<"$needed" || fail "rpm -qpR requires $lib, which no binary needs"
done
ok "rpm -qpR requires no library the binaries do not need"
for req in systemd shadow-utils coreutils /bin/sh; do
    grep -qxF "$req" <<<"$requires" || fail "rpm -qpR lacks $req"
done
ok "rpm -qpR has systemd, shadow-utils (%pre), coreutils (%post), /bin/sh"
scripts=$(rpm -qp --scripts "$rpm")
grep -q 'useradd -r' <<<"$scripts" || fail "%pre does not create the system user"
grep -q 'jwt.key' <<<"$scripts" || fail "%post does not create jwt.key"
ok "scriptlets: %pre creates the user, %post the JWT key, %preun/%postun stop/restart"

step "6. the .deb in a clean Debian 12 root (debootstrap bookworm --variant=minbase)"
if [ "${TC_PKG_SKIP_CHROOT:-0}" = 1 ]; then
    echo "  SKIPPED  TC_PKG_SKIP_CHROOT=1: steps 6 and 7 did not run: the .deb and the .rpm were NOT"
    echo "           installed into a clean root; install, upgrade, remove, purge, the maintainer"
    echo "           scripts and the binaries' runtime dependencies are untested in this run"
    chroot_state="SKIPPED (TC_PKG_SKIP_CHROOT=1)"
else
    includes=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/[(|].*//; s/ //g' | grep -v '^$' |
        sort -u | tr '\n' ',' | sed 's/,$//')
    key=$(printf 'bookworm minbase %s %s' "$mirror" "$includes" | sha256sum | cut -c1-12)
    tarball=${TC_PKG_CACHE:+$TC_PKG_CACHE/debian-bookworm-minbase-$key.tar}
    mkdir -p "$croot"
    if [ -n "$tarball" ] && [ -f "$tarball" ]; then
        tar --numeric-owner -xpf "$tarball" -C "$croot"
        ok "root from the cache $tarball (packages: $includes)"
    else
        if ! debootstrap --variant=minbase --include="$includes" bookworm "$croot" "$mirror" \
            >"$work/debootstrap.log" 2>&1; then
            tail -n 15 "$work/debootstrap.log" >&2
            fail "debootstrap could not build a bookworm root from $mirror (no network, or the
        mirror is unreachable). Set TC_PKG_MIRROR to a reachable mirror, or TC_PKG_SKIP_CHROOT=1
        to skip the chroot checks (the run then reports them as SKIPPED)."
        fi
        ok "debootstrap --variant=minbase --include=$includes bookworm ($mirror)"
        if [ -n "$tarball" ]; then
            mkdir -p "$TC_PKG_CACHE"
            tar --numeric-owner -cpf "$tarball.tmp.$$" -C "$croot" .
            mv "$tarball.tmp.$$" "$tarball"
            ok "cached as $tarball"
        fi
    fi
    ok "clean root ready [$(elapsed)s]"
    mkdir -p "$croot/tmp/pkg"
    cp "$deb" "$croot/tmp/pkg/tigerchat.deb"

    echo "  -- install"
    run_logged "$work/dpkg-install.log" in_root dpkg -i /tmp/pkg/tigerchat.deb
    expect "dpkg status" "install ok installed" "$(in_root dpkg-query -W -f='${Status}' tigerchat)"
    missing=$(for b in "${binaries[@]}"; do in_root ldd "/usr/bin/$b"; done | grep 'not found' || true)
    [ -z "$missing" ] || fail "libraries missing in the clean root: $missing"
    ok "ldd: every library of ${binaries[*]} resolves in the clean root"

    echo "  -- --help from the chroot, against docs/packaging.md §8"
    for binary in "${binaries[@]}"; do
        help=$(as_tc "$binary" --help) || fail "$binary --help exits non-zero"
        grep -q "^usage: $binary" <<<"$help" || fail "$binary --help does not start with 'usage: $binary'"
        documented=$(docs_help "$binary")
        if [ -z "$documented" ]; then
            if [ "$binary" = tigerchat-tui ]; then
                note "$binary --help ok; docs/packaging.md has no <!-- help:$binary --> block (not compared)"
                continue
            fi
            fail "docs/packaging.md has no <!-- help:$binary --> block"
        fi
        if [ "$help" != "$documented" ]; then
            diff <(echo "$documented") <(echo "$help") >&2 || true
            fail "$binary --help differs from docs/packaging.md (< docs, > binary)"
        fi
        ok "$binary --help: exit 0, identical to docs/packaging.md ($(wc -l <<<"$help") lines)"
    done
    version_out=$(as_tc tigerctl --version)
    expect "tigerctl --version" "tigerctl $version" "$version_out"

    echo "  -- the service user, directories, keys, conffiles"
    passwd=$(in_root getent passwd tigerchat) || fail "no user tigerchat"
    IFS=: read -r _ _ uid gid _ home shell <<<"$passwd"
    [ "$uid" -lt 1000 ] || fail "tigerchat is not a system user (uid $uid)"
    expect "tigerchat home, shell" "/var/lib/tigerchat /usr/sbin/nologin" "$home $shell"
    expect "tigerchat primary group" "tigerchat" "$(in_root getent group "$gid" | cut -d: -f1)"
    ok "system user tigerchat: uid $uid, gid $gid"
    for dir in /var/lib/tigerchat /var/lib/tigerchat/node /var/lib/tigerchat/controller; do
        expect "$dir" "tigerchat:tigerchat 750" "$(stat_in_root '%U:%G %a' "$dir")"
    done
    expect "/etc/tigerchat/jwt.key (owner, mode, size)" "root:tigerchat 640 65" \
        "$(stat_in_root '%U:%G %a %s' /etc/tigerchat/jwt.key)"
    grep -qxE '[0-9a-f]{64}' "$croot/etc/tigerchat/jwt.key" || fail "jwt.key is not 64 hex digits"
    ok "jwt.key: 32 random bytes as hex"
    conffiles=$(in_root dpkg-query -W -f='${Conffiles}' tigerchat | awk 'NF {print $1}' | sort |
        tr '\n' ' ' | sed 's/ $//')
    expect "dpkg conffiles" "/etc/tigerchat/controller.env /etc/tigerchat/node.conf" "$conffiles"
    [ -f "$croot/usr/share/man/man1/tigerchat-node.1.gz" ] || fail "man page missing"
    ok "man pages installed"

    echo "  -- a node from the shipped config, as the service user"
    as_tc tigerchat-node --config /etc/tigerchat/node.conf --print-config >/dev/null ||
        fail "tigerchat-node --print-config of the shipped node.conf fails as user tigerchat"
    ok "the shipped node.conf and the generated jwt.key load as user tigerchat (--print-config)"
    run_logged "$work/node-format.log" as_tc tigerchat-node format --config /etc/tigerchat/node.conf
    ok "$(tail -n 1 "$work/node-format.log")"
    expect "node.key" "tigerchat:tigerchat 600" "$(stat_in_root '%U:%G %a' /var/lib/tigerchat/node/node.key)"
    base=$(pick_ports)
    sed -e "s/127.0.0.1:7100/127.0.0.1:$base/g" -e "s/127.0.0.1:7000/127.0.0.1:$((base + 1))/" \
        -e "s/127.0.0.1:7200/127.0.0.1:$((base + 2))/" "$croot/etc/tigerchat/node.conf" \
        >"$croot/tmp/pkg/node-test.conf"
    chmod 0644 "$croot/tmp/pkg/node-test.conf"
    # Started as a simple command (not through a function, which would fork a subshell): $! is
    # chroot's pid, which execs env, which execs the node.
    chroot --userspec=tigerchat:tigerchat "$croot" /usr/bin/env -i PATH=/usr/bin:/bin \
        tigerchat-node start --config /tmp/pkg/node-test.conf >"$work/node.log" 2>&1 &
    node_pid=$!
    pids+=("$node_pid")
    healthy=0
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$((base + 2))/healthz" >/dev/null 2>&1; then
            healthy=1
            break
        fi
        kill -0 "$node_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ $healthy != 1 ]; then
        tail -n 20 "$work/node.log" >&2
        fail "tigerchat-node did not answer /healthz on 127.0.0.1:$((base + 2))"
    fi
    ok "tigerchat-node start (ports $base-$((base + 2))): /healthz answers"
    kill -TERM "$node_pid"
    rc=0
    wait "$node_pid" || rc=$?
    pids=()
    [ $rc = 0 ] || { tail -n 20 "$work/node.log" >&2; fail "tigerchat-node exit $rc after SIGTERM"; }
    ok "tigerchat-node: SIGTERM, clean exit 0"

    echo "  -- a controller, as the service user, and tigerctl against it"
    run_logged "$work/keygen.log" in_root tigerctl keygen --out /root/admin
    install -m 0644 "$croot/root/admin.pub" "$croot/etc/tigerchat/admin.pub"
    run_logged "$work/ctl-format.log" as_tc tigerchat-controller format \
        --data-dir /var/lib/tigerchat/controller --cluster pkgtest \
        --admin-key /etc/tigerchat/admin.pub --admin-name pkgtest
    ok "tigerchat-controller format: $(cut -c1-60 "$work/ctl-format.log")..."
    expect "controller.key" "tigerchat:tigerchat 600" \
        "$(stat_in_root '%U:%G %a' /var/lib/tigerchat/controller/controller.key)"
    cport=$((base + 3))
    chroot --userspec=tigerchat:tigerchat "$croot" /usr/bin/env -i PATH=/usr/bin:/bin \
        tigerchat-controller start --data-dir /var/lib/tigerchat/controller \
        --listen "127.0.0.1:$cport" >"$work/controller.log" 2>&1 &
    ctl_pid=$!
    pids+=("$ctl_pid")
    status_out=""
    for _ in $(seq 1 100); do
        if status_out=$(in_root tigerctl --controller "http://127.0.0.1:$cport" status 2>&1); then break; fi
        status_out=""
        kill -0 "$ctl_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$status_out" ] || { tail -n 20 "$work/controller.log" >&2; fail "tigerctl status never succeeded"; }
    grep -qE '^cluster +pkgtest$' <<<"$status_out" || fail "tigerctl status: $status_out"
    ok "tigerctl status against the controller in the chroot: cluster pkgtest"
    kill -TERM "$ctl_pid"
    rc=0
    wait "$ctl_pid" || rc=$?
    pids=()
    [ $rc = 0 ] || { tail -n 20 "$work/controller.log" >&2; fail "controller exit $rc after SIGTERM"; }
    ok "tigerchat-controller: SIGTERM, clean exit 0"

    echo "  -- reinstall/upgrade keeps modified configuration, keys and data"
    echo "# local change $$" >>"$croot/etc/tigerchat/node.conf"
    sed -i 's/^TIGERCHAT_CONTROLLER_LISTEN=.*/TIGERCHAT_CONTROLLER_LISTEN=127.0.0.1:7399/' \
        "$croot/etc/tigerchat/controller.env"
    kept=(/etc/tigerchat/node.conf /etc/tigerchat/controller.env /etc/tigerchat/jwt.key
        /var/lib/tigerchat/node/node.key /var/lib/tigerchat/controller/controller.key
        /var/lib/tigerchat/controller/controller.db /var/lib/tigerchat/controller/audit.jsonl)
    before=$(for f in "${kept[@]}"; do echo "$f $(hash_in_root "$f") $(stat_in_root '%U:%G %a' "$f")"; done)
    run_logged "$work/dpkg-reinstall.log" in_root dpkg -i /tmp/pkg/tigerchat.deb
    ok "dpkg -i of the same .deb again (upgrade path: prerm upgrade, postinst configure $version)"
    run_logged "$work/postinst-again.log" in_root /var/lib/dpkg/info/tigerchat.postinst configure "$version"
    ok "postinst configure run once more by hand (idempotence)"
    after=$(for f in "${kept[@]}"; do echo "$f $(hash_in_root "$f") $(stat_in_root '%U:%G %a' "$f")"; done)
    if [ "$before" != "$after" ]; then
        diff <(echo "$before") <(echo "$after") >&2 || true
        fail "reinstall changed configuration, keys or data"
    fi
    ok "unchanged (content, owner, mode): ${kept[*]}"
    grep -q "^# local change $$\$" "$croot/etc/tigerchat/node.conf" || fail "node.conf lost the change"
    leftovers=$(find "$croot/etc/tigerchat" -name '*.dpkg-*' -o -name '*.new.*')
    [ -z "$leftovers" ] || fail "leftover files: $leftovers"
    ok "no .dpkg-new/.dpkg-old/.dpkg-dist or temporary files in /etc/tigerchat"
    expect "uid after reinstall" "$uid" "$(in_root id -u tigerchat)"
    expect "dpkg status" "install ok installed" "$(in_root dpkg-query -W -f='${Status}' tigerchat)"

    echo "  -- remove: binaries go; configuration, data and user stay"
    run_logged "$work/dpkg-remove.log" in_root dpkg -r tigerchat
    [ ! -e "$croot/usr/bin/tigerchat-node" ] || fail "tigerchat-node still installed after remove"
    [ -f "$croot/etc/tigerchat/node.conf" ] || fail "node.conf removed by remove (not purge)"
    [ -f "$croot/etc/tigerchat/jwt.key" ] || fail "jwt.key removed by remove (not purge)"
    [ -f "$croot/var/lib/tigerchat/node/node.key" ] || fail "data removed by remove"
    in_root getent passwd tigerchat >/dev/null || fail "user removed by remove"
    expect "dpkg status" "deinstall ok config-files" "$(in_root dpkg-query -W -f='${Status}' tigerchat)"

    echo "  -- purge with data: configuration goes; data and its owner stay"
    run_logged "$work/dpkg-purge.log" in_root dpkg -P tigerchat
    [ ! -e "$croot/etc/tigerchat/node.conf" ] || fail "node.conf survived purge"
    [ ! -e "$croot/etc/tigerchat/jwt.key" ] || fail "jwt.key survived purge"
    ok "purge removed the conffiles and the generated jwt.key"
    if [ -e "$croot/etc/tigerchat" ]; then
        note "/etc/tigerchat kept: it holds files the package does not own: $(find "$croot/etc/tigerchat" -mindepth 1 -printf '%f ')"
    fi
    for f in /var/lib/tigerchat/node/node.key /var/lib/tigerchat/controller/controller.db; do
        [ -f "$croot$f" ] || fail "purge removed data: $f"
    done
    ok "data kept: /var/lib/tigerchat/node, /var/lib/tigerchat/controller"
    expect "uid kept with the data" "$uid" "$(in_root id -u tigerchat)"
    grep -q "kept /var/lib/tigerchat" "$work/dpkg-purge.log" || fail "purge did not say it kept the data"
    ok "purge said: $(grep 'kept /var/lib/tigerchat' "$work/dpkg-purge.log")"

    echo "  -- install over kept data, then purge without data"
    run_logged "$work/dpkg-install2.log" in_root dpkg -i /tmp/pkg/tigerchat.deb
    expect "uid reused" "$uid" "$(in_root id -u tigerchat)"
    expect "node.key kept" "$(grep node.key <<<"$before" | cut -d' ' -f2)" \
        "$(hash_in_root /var/lib/tigerchat/node/node.key)"
    [ -f "$croot/etc/tigerchat/jwt.key" ] || fail "no new jwt.key"
    ok "reinstall after purge: same user, data intact, a new jwt.key"
    rm -rf --one-file-system "$croot/var/lib/tigerchat/node" "$croot/var/lib/tigerchat/controller"
    rm -f "$croot/etc/tigerchat/admin.pub"
    run_logged "$work/dpkg-purge2.log" in_root dpkg -P tigerchat
    [ ! -e "$croot/var/lib/tigerchat" ] || fail "/var/lib/tigerchat survived a purge with no data"
    [ ! -e "$croot/etc/tigerchat" ] || fail "/etc/tigerchat survived purge: $(find "$croot/etc/tigerchat" -mindepth 1 -printf '%f ')"
    ! in_root getent passwd tigerchat >/dev/null || fail "user tigerchat survived a purge with no data"
    ! in_root getent group tigerchat >/dev/null || fail "group tigerchat survived a purge with no data"
    expect "dpkg status" "not-installed" "$(in_root dpkg-query -W -f='${db:Status-Status}' tigerchat 2>/dev/null || echo not-installed)"
    ok "purge with no data left: /etc/tigerchat, /var/lib/tigerchat, user and group all gone"

    step "7. the .rpm's scriptlets in the same clean root (rpm --root, --nodeps: no rpm database of Debian's libraries)"
    run_logged "$work/rpm-install.log" rpm --root "$croot" --nodeps -i "$rpm"
    ok "rpm -i: %pre, files, %post"
    passwd=$(in_root getent passwd tigerchat) || fail "%pre created no user tigerchat"
    IFS=: read -r _ _ uid _ _ home shell <<<"$passwd"
    [ "$uid" -lt 1000 ] || fail "tigerchat is not a system user (uid $uid)"
    ok "system user tigerchat from %pre: uid $uid, home $home, shell $shell"
    for dir in /var/lib/tigerchat /var/lib/tigerchat/node /var/lib/tigerchat/controller; do
        expect "$dir" "tigerchat:tigerchat 750" "$(stat_in_root '%U:%G %a' "$dir")"
    done
    expect "/etc/tigerchat/jwt.key from %post" "root:tigerchat 640 65" \
        "$(stat_in_root '%U:%G %a %s' /etc/tigerchat/jwt.key)"
    run_logged "$work/rpm-node-format.log" as_tc tigerchat-node format --config /etc/tigerchat/node.conf
    ok "tigerchat-node format as user tigerchat: $(tail -n 1 "$work/rpm-node-format.log")"
    echo "# local change rpm $$" >>"$croot/etc/tigerchat/node.conf"
    kept=(/etc/tigerchat/node.conf /etc/tigerchat/jwt.key /var/lib/tigerchat/node/node.key)
    before=$(for f in "${kept[@]}"; do echo "$f $(hash_in_root "$f") $(stat_in_root '%U:%G %a' "$f")"; done)
    run_logged "$work/rpm-upgrade.log" rpm --root "$croot" --nodeps -U --replacepkgs "$rpm"
    after=$(for f in "${kept[@]}"; do echo "$f $(hash_in_root "$f") $(stat_in_root '%U:%G %a' "$f")"; done)
    if [ "$before" != "$after" ]; then
        diff <(echo "$before") <(echo "$after") >&2 || true
        fail "rpm -U --replacepkgs changed configuration, keys or data"
    fi
    ok "rpm -U --replacepkgs: modified node.conf (%config(noreplace)), jwt.key, node.key unchanged"
    run_logged "$work/rpm-erase.log" rpm --root "$croot" -e tigerchat
    [ ! -e "$croot/usr/bin/tigerchat-node" ] || fail "rpm -e left /usr/bin/tigerchat-node"
    grep -q "^# local change rpm $$\$" "$croot/etc/tigerchat/node.conf.rpmsave" ||
        fail "rpm -e did not keep the modified node.conf as node.conf.rpmsave"
    [ -f "$croot/var/lib/tigerchat/node/node.key" ] || fail "rpm -e removed data"
    in_root getent passwd tigerchat >/dev/null || fail "rpm -e removed the user"
    ok "rpm -e: binaries gone; node.conf.rpmsave, data and the user kept"
    chroot_state="passed"
fi

printf '\n== package test passed in %ss: %s, %s; chroot checks %s\n' "$(elapsed)" \
    "$(basename "$deb")" "$(basename "$rpm")" "$chroot_state"
