# SPDX-License-Identifier: Apache-2.0
# Guest side of bench/hotplug.sh, run by the guest's /init (busybox sh); /hp is the static
# helper bench/hotplug-helper.c. bench.hp=vqvm|qemu and bench.hpruns=M on the command line.
# vqvm: load vqvm_mgmt, destroy the pre-created disk gblk (its backend goes back to the
# pool), then M guest-initiated hot-adds timed here (/hp create: HPG lines). Both: print
# HP-PHASE-B, then wait for the host's M hot-adds (serials hot1..hotM), printing "HPR I."
# as soon as each reads (the host times up to that line), then HP-DONE.
dmesg -n 1 # kernel messages would cost console exits inside the timed windows
hp=qemu
n=20
for w in $(cat /proc/cmdline); do
	case "$w" in
	bench.hp=*) hp=${w#bench.hp=} ;;
	bench.hpruns=*) n=${w#bench.hpruns=} ;;
	esac
done
if [ "$hp" = vqvm ]; then
	insmod /lib/modules/*/extra/vqvm_mgmt.ko || { echo "BENCH-ERROR insmod vqvm_mgmt failed"; exit 1; }
	mgmt=
	for f in /sys/bus/pci/drivers/vqvm_mgmt/0000:*; do
		[ -f "$f/create" ] && mgmt=$f
	done
	[ -n "$mgmt" ] || { echo "BENCH-ERROR no management function"; exit 1; }
	i=0
	while [ $i -lt 100 ] && ! grep -q ' blk live ' "$mgmt/devices"; do sleep 0.1; i=$((i + 1)); done
	id=$(awk '$2 == "blk" { print $1; exit }' "$mgmt/devices")
	[ -n "$id" ] || { echo "BENCH-ERROR the pre-created disk is not there: $(cat "$mgmt/devices")"; exit 1; }
	echo "$id" >"$mgmt/destroy" || { echo "BENCH-ERROR destroy $id failed"; exit 1; }
	sleep 1
	/hp create "$mgmt" gblk "$n"
	echo "HP-CREATE-RC $?"
	rescan=
else
	# QEMU: the guest should see the device by itself (q35's ACPI PCI hotplug); if not
	# within bench.rescan=S seconds (default 5) of the previous one's removal, the
	# helper rescans the PCI bus (counted: HPR-RESCANS).
	rescan=5
	for w in $(cat /proc/cmdline); do
		case "$w" in bench.rescan=*) rescan=${w#bench.rescan=} ;; esac
	done
fi
echo HP-PHASE-B
/hp wait hot "$n" $rescan
echo "HP-WAIT-RC $?"
echo HP-DONE
