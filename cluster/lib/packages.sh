# shellcheck shell=bash disable=SC2034  # REQUIRED_PACKAGES is read by the scripts that source lib.sh
# Part of cluster/lib.sh (sourced by it; do not source or run it alone): system packages and the Swift toolchain.

# ---------------------------------------------------------------- packages and toolchain

REQUIRED_PACKAGES=(libpq-dev libssl-dev libcurl4-openssl-dev postgresql curl haproxy pg-auto-failover-cli postgresql-15-auto-failover)

# Installs the system packages the project needs, only if one is missing.
ensure_packages() {
    local missing=() pkg
    for pkg in "${REQUIRED_PACKAGES[@]}"; do
        [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    if ((EUID != 0)); then
        die "missing system packages: ${missing[*]}; install them as root: apt-get update && apt-get install -y ${missing[*]}"
    fi
    info "installing missing system packages: ${missing[*]}"
    local log
    log=$(mktemp /tmp/sma-apt.XXXXXX.log)
    if [[ ${SMA_APT_UPDATED:-} != 1 ]]; then
        if ! apt-get update >"$log" 2>&1; then
            show_log_tail "$log" 20
            die "apt-get update failed (output above); check the network and /etc/apt/sources.list, then retry"
        fi
        export SMA_APT_UPDATED=1
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >>"$log" 2>&1; then
        show_log_tail "$log" 20
        die "apt-get install ${missing[*]} failed (output above, full output: $log)"
    fi
    rm -f "$log"
}

# Puts swift on PATH (falls back to /opt/swift) or fails with advice.
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
        PATH="/opt/swift/usr/bin:$PATH"
        export PATH
    fi
    command -v swift >/dev/null 2>&1 || die "swift is not on PATH (expected Swift 6.3 at /opt/swift/usr/bin); install it or add it to PATH"
}

# Installs Debian package PACKAGE (root only; apt-get update once per run), for WHAT (a message); dies with the
# tail of apt's output when that fails.
apt_install_one() { # PACKAGE WHAT
    local pkg=$1 log
    info "installing $pkg ($2)"
    log=$(mktemp /tmp/sma-apt.XXXXXX.log)
    if [[ ${SMA_APT_UPDATED:-} != 1 ]]; then
        apt-get update >"$log" 2>&1 || { show_log_tail "$log" 20; die "apt-get update failed (output above); check the network, then retry"; }
        export SMA_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >>"$log" 2>&1 \
        || { show_log_tail "$log" 20; die "apt-get install $pkg failed (output above, full output: $log)"; }
    rm -f "$log"
}

# Makes command TOOL available: installs Debian package PACKAGE (default: TOOL) when we are root,
# else fails in one line saying how to install it.
ensure_tool() { # TOOL [PACKAGE]
    local tool=$1 pkg=${2:-$1}
    command -v "$tool" >/dev/null 2>&1 && return 0
    ((EUID == 0)) || die "$tool is missing; install it as root: apt-get install -y $pkg"
    apt_install_one "$pkg" "for $tool"
    command -v "$tool" >/dev/null 2>&1 || die "$pkg is installed but $tool is still not on PATH"
}

# Makes Python module MODULE importable by python3: installs Debian package PACKAGE when we are root,
# else fails in one line saying how to install it.
ensure_python_module() { # MODULE PACKAGE
    local module=$1 pkg=$2
    python3 -c "import $module" >/dev/null 2>&1 && return 0
    ((EUID == 0)) || die "the Python module $module is missing; install it as root: apt-get install -y $pkg"
    apt_install_one "$pkg" "Python module $module"
    python3 -c "import $module" >/dev/null 2>&1 || die "$pkg is installed but python3 still cannot import $module"
}
