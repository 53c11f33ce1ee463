"""run/create argv cases whose create body (or error) is recorded in
data/containerspec-golden.json; "{dir}" in an argument is a directory the test makes with
the files below."""

from __future__ import annotations

import shlex

FILES = {
    "env": "# comment\n\n  FILE_A=1\nFROM_HOST\nFILE_B=two words\n",
    "labels": "# labels\nzone=a\nbare\n",
    "seccomp.json": '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n',
    "broken.json": "{not json",
}
ENV = {"FROM_HOST": "host-value"}

# one case a line (shell words; an indented line continues the case above)
_TEXT = """
busybox
busybox echo hi
-it --rm busybox sh
-d -i busybox
-a stderr -a STDIN busybox
-a stdout -d busybox
-a bogus busybox
-i -a stdout busybox
-e X=1 -e FROM_HOST -e NOT_SET_ANYWHERE --env-file '{dir}/env' busybox
--env-file '{dir}/missing' busybox
-l a=b --label flag --label-file '{dir}/labels' busybox
--hostname box -u 1:2 -w /tmp --entrypoint /bin/sh busybox -c x
--entrypoint '' busybox
--stop-signal SIGUSR1 --stop-timeout 3 busybox
--stop-timeout 0 busybox
--health-cmd true --health-interval 2s --health-timeout 1m --health-start-period 1h
    --health-start-interval 500ms --health-retries 3 busybox
--health-retries 2 busybox
--no-healthcheck busybox
--no-healthcheck --health-cmd x busybox
--health-interval bogus busybox
--health-timeout -1s busybox
--health-retries -1 busybox
-p 80 -p 8080:80 -p 127.0.0.1:9000:90/udp -p '[::1]:7000:70' -p 1000-1002:2000-2002 --expose
    5000 --expose 6000/udp busybox
-p 1:2:3:4 busybox
-p abc busybox
-v /data -v /host:/ctr:ro -v named:/x busybox
--mount type=bind,src=/h,dst=/c,readonly,bind-propagation=rshared,bind-nonrecursive --mount
    type=volume,source=v,target=/v,volume-nocopy=false,volume-subpath=sub,volume-label=a=b,volume-driver=local,volume-opt=o=1
    --mount type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777 --mount
    target=/anon,ro=true,consistency=cached --mount
    type=bind,src=/a,dst=/b,bind-create-mountpoint=1 busybox
--mount type=bind,src=/a busybox
--mount type=bind,dst=/a,volume-nocopy busybox
--mount type=volume,dst=/a,bind-propagation=private busybox
--mount type=bind,dst=/a,tmpfs-size=1m busybox
--mount type=tmpfs,dst=/a,tmpfs-size=huge busybox
--mount type=tmpfs,dst=/a,tmpfs-mode=999 busybox
--mount dst=/a,readonly=maybe busybox
--mount dst=/a,bogus=1 busybox
--mount dst=/a,source busybox
--volumes-from c1 --volumes-from c2:ro --volume-driver local busybox
-m 64m --memory-swap -1 --shm-size 1g --cpus 1.5 -c 512 --pids-limit 20 busybox
-m 64m --memory-swap 128m busybox
-m lots busybox
--cpus many busybox
--pids-limit -1 busybox
--log-driver json-file --log-opt max-size=10m --log-opt max-file=3 busybox
--log-opt tag=x busybox
--network mynet --ip 10.1.2.3 --network-alias a1 --network-alias a2 --mac-address
    92:d0:c6:0a:29:33 busybox
--net host busybox
--ip 10.0.0.5 busybox
--network mynet --ip6 2001:db8::33 --link-local-ip 169.254.1.1 --link other:alias --ip 10.1.1.1
    busybox
--network bridge --link other busybox
--network container:abc --link other --ip6 ::5 busybox
--link-local-ip fe80::1 busybox
--link a:b:c busybox
--link '' busybox
--restart on-failure:5 busybox
--restart always busybox
--restart sometimes busybox
--restart on-failure:x busybox
--privileged --read-only --init busybox
--cap-add NET_ADMIN --cap-drop ALL --dns 1.1.1.1 --add-host h:1.2.3.4 busybox
--security-opt systempaths=unconfined busybox
--security-opt no-new-privileges --security-opt label:disable --security-opt
    apparmor=unconfined --security-opt seccomp=unconfined --security-opt systempaths=unconfined
    busybox
--security-opt 'seccomp={dir}/seccomp.json' busybox
--security-opt 'seccomp={dir}/broken.json' busybox
--security-opt 'seccomp={dir}/absent.json' busybox
--security-opt bogus busybox
--security-opt seccomp= busybox
--tmpfs /run --tmpfs /tmp:rw,size=64m busybox
--ulimit nofile=10:20 --ulimit nproc=5 busybox
--ulimit nofile=x busybox
--device /dev/fuse --device /dev/fuse:r --device /dev/a:/dev/b --device /dev/a:/dev/b:rw
    --device /dev/a: busybox
--device /dev/a:/b:c:d busybox
--device /dev/a:/b:xyz busybox
--sysctl net.ipv4.ip_forward=1 --sysctl kernel.shm= busybox
--sysctl novalue busybox
--sysctl =v busybox
--ipc host --pid container:x --uts host --cgroupns private busybox
--domainname example.org --cgroup-parent /p --cidfile /tmp/cid --cpuset-cpus 0-1 --cpuset-mems
    0 --runtime runc --isolation default --cpu-period 100000 --cpu-quota 50000 --cpu-rt-period
    1000 --cpu-rt-runtime 500 --oom-score-adj -500 -P --oom-kill-disable busybox
--userns host busybox
--userns private busybox
--blkio-weight 500 busybox
--blkio-weight 70000 busybox
--blkio-weight -1 busybox
--memory-swappiness 0 busybox
--memory-swappiness 60 --memory-reservation 32m busybox
--memory-swappiness 101 busybox
--memory-reservation x busybox
--blkio-weight-device /dev/sda:200 --blkio-weight-device /dev/sdb:0 busybox
--blkio-weight-device /dev/sda busybox
--blkio-weight-device sda:200 busybox
--blkio-weight-device /dev/sda:5 busybox
--blkio-weight-device /dev/sda:x busybox
--device-read-bps /dev/sda:1mb --device-write-bps /dev/sda:10 --device-read-iops /dev/sda:100
    --device-write-iops /dev/sdb:7 busybox
--device-read-bps /dev/sda:fast busybox
--device-write-iops /dev/sda:1k busybox
--device-read-iops sda:1 busybox
--device-write-bps :1 busybox
--device-cgroup-rule 'c 1:3 mr' --device-cgroup-rule 'a *:* rwm' busybox
--device-cgroup-rule 'x 1:3 r' busybox
--dns-search example.com --dns-search ' .' --dns-search a.b. busybox
--dns-search 123 busybox
--dns-search bad_domain busybox
--dns-option ndots:2 --dns-option rotate --group-add audio --group-add 10 busybox
--gpus all busybox
--gpus 2 busybox
--gpus 'driver=nvidia,"device=0,1","capabilities=compute,utility","options=a=1,b=2"' busybox
--gpus driver=nvidia busybox
--gpus count=many busybox
--gpus count=1,count=2 busybox
--gpus color=red busybox
--storage-opt size=10G --annotation a=b --annotation c busybox
--storage-opt size busybox
--pull never -q --platform linux/amd64 --name n --detach-keys ctrl-x busybox
-m lots --cpus many busybox
--cpus many --restart x busybox
--restart x --sysctl bad --ulimit u=x busybox
--security-opt bogus --tmpfs /t --device /dev/a:/b:xyz busybox
--userns private --blkio-weight 70000 busybox
--memory-reservation x --memory-swappiness 101 busybox
--link a:b:c --gpus color=red --dns-search 123 busybox
--device-cgroup-rule x --device-read-bps bad busybox
--health-retries -1 -p abc --mount dst=/a,bogus=1 busybox
-a bogus --env-file '{dir}/missing' busybox
--env-file '{dir}/missing' --health-interval x busybox
-d -i -t --rm --name all -e A=1 -l k=v --hostname h --domainname d.org -u u -w /w --entrypoint
    e --stop-signal TERM --stop-timeout 9 --health-cmd c -p 8080:80 --expose 90 -v /anon -v
    /a:/b --mount type=tmpfs,dst=/t --volumes-from x --volume-driver local -m 1g --memory-swap
    2g --shm-size 64m --cpus 2 -c 100 --pids-limit 5 --log-driver local --network net1 --ip
    10.0.0.2 --ip6 fd00::2 --network-alias al --mac-address 02:42:ac:11:00:02 --link l:m
    --link-local-ip 169.254.0.9 --restart unless-stopped --privileged --read-only --init
    --cap-add ALL --cap-drop CHOWN --dns 8.8.8.8 --add-host x:1.1.1.1 --security-opt
    systempaths=unconfined --security-opt no-new-privileges --tmpfs /run:size=1m --ulimit
    core=0 --device /dev/null --sysctl a.b=1 --ipc private --pid host --uts host --cgroupns
    host --cgroup-parent cg --cidfile /c --cpuset-cpus 0 --cpuset-mems 0 --runtime r
    --isolation i --cpu-period 1 --cpu-quota 2 --cpu-rt-period 3 --cpu-rt-runtime 4
    --oom-score-adj 5 -P --oom-kill-disable --userns host --blkio-weight 10 --memory-swappiness
    1 --memory-reservation 1m --blkio-weight-device /dev/a:10 --device-read-bps /dev/a:1
    --device-write-bps /dev/a:2 --device-read-iops /dev/a:3 --device-write-iops /dev/a:4
    --device-cgroup-rule 'b 8:* r' --dns-search s.org --dns-option o --group-add g --gpus all
    --storage-opt s=1 --annotation an=1 busybox cmd arg
"""


def _cases(text: str) -> list[list[str]]:
    joined: list[str] = []
    for line in text.splitlines():
        if line.startswith(" ") and joined:
            joined[-1] += line
        elif line:
            joined.append(line)
    return [shlex.split(c) for c in joined]


CASES: list[list[str]] = _cases(_TEXT)
