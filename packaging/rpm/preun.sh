# tigerchat %preun ($1: 0 on erase, 1 or more on upgrade): stop the services on erase only.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now tigerchat-node.service tigerchat-controller.service \
        >/dev/null 2>&1 || :
fi
exit 0
