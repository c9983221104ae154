/// The QEMU command line that boots one MiniCache microVM: QEMU's `microvm` machine (no PCI,
/// no firmware tables beyond ACPI for the virtio-mmio devices), the image's kernel and
/// initramfs, the instance's volume as a virtio disk and its tap as a virtio network card, the
/// serial console on standard output.
struct QEMUCommand: Codable, Sendable, Equatable {
    enum Accelerator: String, Codable, Sendable {
        case kvm, tcg
    }

    var kernel: String
    var initramfs: String
    var volume: String
    var tap: String
    /// The guest's MAC, and the host end's (the guest's gateway).
    var guestMAC: String
    var hostMAC: String
    var address: String
    var memoryMiB: Int
    var accelerator: Accelerator
    /// `minicache` arguments after the executable (`serve /dev/vda --listen ...`).
    var minicacheArguments: [String]
    var kernelArguments: [String] = []
    /// The host's TSC frequency in kHz: under TCG the guest's TSC is the host's, and a guest
    /// that need not calibrate it boots on a busy host, where calibration against the emulated
    /// PIT fails and the boot stalls.
    var tscKHz: Int?

    /// Built-in initcalls a cache VM does without (tracing, keyrings and certificates, TPM, the
    /// PC speaker); measured under TCG on a busy host, skipping them and the crypto self-tests
    /// took the kernel's start to init from 28 s to 18 s.
    static let skippedInitcalls = [
        "init_kprobe_trace", "init_trace_printk_function_export", "load_system_certificate_list", "machine_keyring_init",
        "init_encrypted", "digsig_init", "crypto_kdf108_init", "init_tis", "add_pcspkr",
    ]

    /// The kernel command line: quiet console on the serial port, power off on panic (QEMU runs
    /// with `-no-reboot`, so the VM ends), no crypto self-tests nor the initcalls above, the
    /// init's parameters, then `--` and minicache's.
    var commandLine: String {
        var words = [
            "console=ttyS0", "quiet", "panic=-1", "mitigations=off", "random.trust_cpu=on", "8250.nr_uarts=1", "cryptomgr.notests",
            "initcall_blacklist=" + Self.skippedInitcalls.joined(separator: ","),
        ]
        if accelerator == .tcg, let tscKHz { words += ["tsc_early_khz=\(tscKHz)", "tsc=reliable", "no_timer_check"] }
        words += kernelArguments
        words += ["ecdn.addr=\(address)", "ecdn.gateway_mac=\(hostMAC)", "ecdn.disk=/dev/vda", "--"]
        words += minicacheArguments
        return words.joined(separator: " ")
    }

    var arguments: [String] {
        [
            "-M", "microvm,accel=\(accelerator.rawValue),x-option-roms=off",
            "-cpu", accelerator == .kvm ? "host" : "max",
            "-m", "\(memoryMiB)M", "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", kernel, "-initrd", initramfs, "-append", commandLine,
            "-drive", "id=volume,file=\(volume),format=raw,if=none,cache=unsafe",
            "-device", "virtio-blk-device,drive=volume",
            "-netdev", "tap,id=net,ifname=\(tap),script=no,downscript=no",
            "-device", "virtio-net-device,netdev=net,mac=\(guestMAC)",
        ]
    }
}
