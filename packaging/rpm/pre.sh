# tigerchat %pre (docs/packaging.md): the tigerchat system user and group, created only when
# missing (install and upgrade alike). They are never removed: data under /var/lib/tigerchat
# stays with its owner when the package goes.
getent group tigerchat >/dev/null || groupadd -r tigerchat
getent passwd tigerchat >/dev/null || \
    useradd -r -g tigerchat -d /var/lib/tigerchat -M -s /sbin/nologin -c "TigerChat" tigerchat
exit 0
