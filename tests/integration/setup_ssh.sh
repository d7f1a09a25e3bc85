#!/usr/bin/env bash
# Set up the SSH test target used by the integration tests (inventory host `sshhost`).
#
#   tests/integration/setup_ssh.sh [PYTHON...]   set up (idempotent), check each PYTHON
#   tests/integration/setup_ssh.sh --stop        stop our sshd (by its pid file)
#
# Must run as root. It:
#  - installs openssh-server, openssh-client, sudo and acl if missing (apt-get);
#  - creates the unprivileged login user `ajssh` (ed25519 key, private key kept in
#    .build/ssh/, outside git) with passwordless sudo (/etc/sudoers.d/asyncjobs-tests),
#    and the unprivileged become user `ajjob`;
#  - starts a dedicated sshd (not the system service) with its own config, host key and
#    pid file under .build/ssh, on 127.0.0.1:2222, unless it already runs;
#  - makes sure every PYTHON given (default $TARGET_PYTHON, else /usr/bin/python3) can be
#    run by ajssh and ajjob (grants o+x on the directories leading to it, e.g. /root for
#    pyenv interpreters), and fails if they still cannot run it;
#  - writes .build/ssh/inventory.yml (for manual use; the pytest conftest writes its own).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SSH_DIR=${AJ_SSH_DIR:-$ROOT/.build/ssh}
PORT=${AJ_SSH_PORT:-2222}
LOGIN_USER=ajssh
JOB_USER=ajjob
SUDOERS=/etc/sudoers.d/asyncjobs-tests
PIDFILE=$SSH_DIR/sshd.pid
KEY=$SSH_DIR/id_ed25519

log() { echo "setup_ssh: $*" >&2; }
die() { echo "setup_ssh: ERROR: $*" >&2; exit 1; }

our_sshd_pid() {
    # pid of the sshd started from our config, if it is alive
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$SSH_DIR/sshd_config" || return 1
    echo "$pid"
}

if [ "${1:-}" = "--stop" ]; then
    if pid=$(our_sshd_pid); then
        log "stopping sshd pid $pid"
        kill "$pid"
    fi
    exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (it creates users and starts sshd)"

pythons=("$@")
[ ${#pythons[@]} -gt 0 ] || pythons=("${TARGET_PYTHON:-/usr/bin/python3}")
for py in "${pythons[@]}"; do
    case $py in /*) ;; *) die "target python must be an absolute path: '$py'";; esac
done

# --- packages --------------------------------------------------------------------------------
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v sudo >/dev/null 2>&1 || missing+=(sudo)
command -v setfacl >/dev/null 2>&1 || missing+=(acl)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # openssh-server's postinst may try to start the system service; we do not use it.
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- users -----------------------------------------------------------------------------------
for u in "$LOGIN_USER" "$JOB_USER"; do
    if ! id "$u" >/dev/null 2>&1; then
        log "creating user $u"
        useradd --create-home --shell /bin/bash "$u"
    fi
    # '!' (locked) makes sshd refuse the account without PAM; '*' = no password, not locked.
    usermod -p '*' "$u"
done
job_home=$(getent passwd "$JOB_USER" | cut -d: -f6)
login_home=$(getent passwd "$LOGIN_USER" | cut -d: -f6)

install -d -m 0700 "$SSH_DIR"
[ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C "$LOGIN_USER@asyncjobs-tests" -f "$KEY"
install -d -m 0700 -o "$LOGIN_USER" -g "$LOGIN_USER" "$login_home/.ssh"
# append, not overwrite: several checkouts (each with its own key) may share the users
auth=$login_home/.ssh/authorized_keys
touch "$auth"
grep -qxF "$(cat "$KEY.pub")" "$auth" || cat "$KEY.pub" >>"$auth"
chown "$LOGIN_USER:$LOGIN_USER" "$auth"
chmod 0600 "$auth"

tmp_sudoers=$(mktemp)
printf '# asyncjobs.named integration tests (tests/integration/setup_ssh.sh)\n%s ALL=(ALL) NOPASSWD: ALL\n' \
    "$LOGIN_USER" >"$tmp_sudoers"
visudo -cq -f "$tmp_sudoers" || die "generated sudoers file is invalid"
install -m 0440 "$tmp_sudoers" "$SUDOERS"
rm -f "$tmp_sudoers"

# Async tasks with become to ajjob leave ajssh's /var/tmp/ansible-tmp-* behind (the job,
# running as ajjob, cannot remove them): a known Ansible limitation. Sweep old ones.
find /var/tmp -maxdepth 1 -name 'ansible-tmp-*' -user "$LOGIN_USER" -mmin +60 -exec rm -rf {} + 2>/dev/null || true

# --- target interpreters must be runnable by both users ---------------------------------------
for py in "${pythons[@]}"; do
    [ -x "$py" ] || die "target python '$py' does not exist or is not executable"
    py=$(cd "$(dirname "$py")" && pwd)/$(basename "$py")
    real=$(readlink -f "$py")
    # also the prefix (lib/, include/) of the interpreter, for venvs the base one
    prefix=$("$py" -c 'import sys; print(sys.base_prefix)')
    for path in "$py" "$real" "$prefix/lib"; do
        # walk top-down: a closed parent (e.g. /root, 0700) hides the state of its children
        d=
        IFS=/ read -r -a parts <<<"${path#/}"
        for part in "${parts[@]:0:${#parts[@]}-1}"; do
            d=$d/$part
            if ! sudo -u "$JOB_USER" test -x "$d" || ! sudo -u "$LOGIN_USER" test -x "$d"; then
                log "granting o+x on $d so that $LOGIN_USER and $JOB_USER can reach $py"
                chmod o+x "$d"
            fi
        done
    done
    for u in "$LOGIN_USER" "$JOB_USER"; do
        out=$(cd / && sudo -u "$u" "$py" -c 'print(1)' 2>&1) || true
        [ "$out" = "1" ] || die "user $u cannot run target python $py: $out"
    done
done

# --- dedicated sshd --------------------------------------------------------------------------
[ -f "$SSH_DIR/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/ssh_host_ed25519_key"
new_cfg=$(mktemp)
cat >"$new_cfg" <<EOF
# Dedicated sshd for the asyncjobs.named integration tests (written by setup_ssh.sh).
Port $PORT
ListenAddress 127.0.0.1
HostKey $SSH_DIR/ssh_host_ed25519_key
PidFile $PIDFILE
AllowUsers $LOGIN_USER
PermitRootLogin no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
LogLevel VERBOSE
EOF
if ! cmp -s "$new_cfg" "$SSH_DIR/sshd_config"; then
    install -m 0600 "$new_cfg" "$SSH_DIR/sshd_config"
    if pid=$(our_sshd_pid); then
        log "sshd config changed: restarting pid $pid"
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
fi
rm -f "$new_cfg"

if pid=$(our_sshd_pid); then
    log "sshd already running (pid $pid) on 127.0.0.1:$PORT"
elif (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    # e.g. the sshd of another checkout: same users, and our key is authorized too
    log "127.0.0.1:$PORT is already served by another process; using it if it accepts our key"
else
    install -d -m 0755 /run/sshd   # privilege separation dir, normally made by the service
    /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config" || die "sshd config test failed"
    /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$SSH_DIR/sshd.log"
    log "started sshd on 127.0.0.1:$PORT (log $SSH_DIR/sshd.log)"
fi

ssh_opts=(-i "$KEY" -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no
          -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5)
ok=
for _ in $(seq 60); do
    if ssh "${ssh_opts[@]}" "$LOGIN_USER@127.0.0.1" true </dev/null 2>/dev/null; then ok=1; break; fi
    sleep 0.5
done
[ -n "$ok" ] || { tail -n 20 "$SSH_DIR/sshd.log" >&2 || true; die "sshd on 127.0.0.1:$PORT does not accept $LOGIN_USER's key"; }
# become as used by the tests: ajssh -> sudo -> ajjob, with ACL support for the shared tmp files
# shellcheck disable=SC2029  # intended: JOB_USER is our fixed local name (ajjob), to be expanded here, on the client
who=$(ssh "${ssh_opts[@]}" "$LOGIN_USER@127.0.0.1" "sudo -n -u $JOB_USER id -un" </dev/null)
[ "$who" = "$JOB_USER" ] || die "passwordless sudo from $LOGIN_USER to $JOB_USER does not work (got '$who')"
probe=$(mktemp /var/tmp/aj-acl-probe.XXXXXX)
setfacl -m "u:$JOB_USER:r" "$probe" || die "setfacl does not work on /var/tmp (ACLs are needed for become to $JOB_USER)"
rm -f "$probe"

cat >"$SSH_DIR/inventory.yml" <<EOF
# Written by tests/integration/setup_ssh.sh, for manual use (ansible-playbook -i ...).
all:
  hosts:
    sshhost:
      ansible_host: 127.0.0.1
      ansible_port: $PORT
      ansible_user: $LOGIN_USER
      ansible_ssh_private_key_file: $KEY
      ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
      ansible_python_interpreter: ${pythons[0]}
      ansible_become_method: sudo
      job_user: $JOB_USER
EOF
log "ready: $LOGIN_USER@127.0.0.1:$PORT (key $KEY), become user $JOB_USER (home $job_home)"
