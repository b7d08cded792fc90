# tigerchat %postun ($1: 0 on erase, 1 or more on upgrade). On upgrade, restart what runs.
# Data under /var/lib/tigerchat, /etc/tigerchat/jwt.key and the tigerchat user are kept.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart tigerchat-node.service tigerchat-controller.service \
            >/dev/null 2>&1 || :
    fi
fi
exit 0
