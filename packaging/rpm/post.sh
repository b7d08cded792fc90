# tigerchat %post ($1: 1 on install, 2 or more on upgrade). Idempotent; never touches data or an
# existing key; never enables or starts a service (format first, docs/packaging.md). The data
# directories are the package's own (%dir %attr(0750,tigerchat,tigerchat)).
key=/etc/tigerchat/jwt.key
if [ ! -e "$key" ]; then
    # The node's HS256 secret: 32 random bytes as hex, readable by root and group tigerchat only.
    tmp="$key.new.$$"
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$tmp" && echo >> "$tmp")
    chgrp tigerchat "$tmp"
    chmod 0640 "$tmp"
    mv "$tmp" "$key"
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
