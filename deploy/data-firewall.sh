#!/bin/sh
# The data host's firewall (docs/deploy.md): PgBouncer (6432), Redis (6379) and S3 (9000)
# answer only the hosts given, everything else that reaches those ports is dropped.
#   data-firewall.sh <address of each web, worker and media host>...
set -eu
[ $# -gt 0 ] || { echo "usage: data-firewall.sh <allowed address>..." >&2; exit 2; }
iptables -N callcenter-data 2>/dev/null || iptables -F callcenter-data
for address in "$@"; do
    iptables -A callcenter-data -s "$address" -j ACCEPT
done
iptables -A callcenter-data -j DROP
for port in 6432 6379 9000; do
    iptables -C INPUT -p tcp --dport "$port" -j callcenter-data 2>/dev/null \
        || iptables -A INPUT -p tcp --dport "$port" -j callcenter-data
done
