using System.Diagnostics;

namespace Bench.Rig.Emulation;

/// <summary>
/// StandardFirmata and ConfigurableFirmata built unmodified for an Uno from the third-party sources (hardware/firmata,
/// Debian's arduino-mk), to run under bench-sim: the firmware teaching labs already have on their boards.
/// </summary>
public static class FirmataFirmware
{
    /// <summary>The Debian packages the build needs (besides the harness's).</summary>
    public const string Packages = "arduino-mk arduino-core-avr gcc-avr avr-libc";

    /// <summary>
    /// Where the unmodified Firmata, ConfigurableFirmata, Servo, DHT and Adafruit_Sensor sources are:
    /// <c>$BENCH_THIRD_PARTY</c>, else <c>shared/third-party</c> beside the checkout.
    /// </summary>
    public static string ThirdPartyDirectory()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("BENCH_THIRD_PARTY");
        if (!string.IsNullOrEmpty(fromEnvironment)) return Path.GetFullPath(fromEnvironment);
        string hardware = FirmwareBuild.FindHardwareDirectory() ?? Environment.CurrentDirectory;
        return Path.GetFullPath(Path.Combine(hardware, "..", "..", "shared", "third-party"));
    }

    /// <summary>Why the Firmata firmware cannot be built here (null: it can), saying how to provide what is missing.</summary>
    public static string? MissingReason()
    {
        string dir = ThirdPartyDirectory();
        if (!File.Exists(Path.Combine(dir, "Firmata", "Firmata.h")) || !File.Exists(Path.Combine(dir, "ConfigurableFirmata", "src", "ConfigurableFirmata.h")))
        {
            return $"no Firmata sources at {dir}: put the unmodified Firmata, ConfigurableFirmata, Servo, DHT and Adafruit_Sensor libraries there " +
                "(github.com/firmata/arduino, github.com/firmata/ConfigurableFirmata, github.com/arduino-libraries/Servo, adafruit's DHT and Adafruit_Sensor) " +
                "or set BENCH_THIRD_PARTY to the folder that holds them";
        }

        if (!File.Exists("/usr/share/arduino/Arduino.mk")) return $"arduino-mk is not installed: sudo apt-get install {Packages} (bash hardware/run-tests.sh does it)";
        return null;
    }

    /// <summary>Builds both (make rebuilds only what is stale) and returns their ELF files.</summary>
    /// <exception cref="FirmwareEmulatorException">The sources or the tools are missing, or the build failed; the message says what to do.</exception>
    public static (string StandardFirmata, string ConfigurableFirmata) Build()
    {
        if (MissingReason() is { } why) throw new FirmwareEmulatorException(why);
        string hardware = FirmwareBuild.FindHardwareDirectory() ?? throw new FirmwareEmulatorException("cannot find Bench's hardware/ folder: run from the repository, or set BENCH_HARDWARE_DIR");
        string dir = Path.Combine(hardware, "firmata");
        var info = new ProcessStartInfo("make", ["-C", dir, "--no-print-directory", "-s", "THIRD_PARTY=" + ThirdPartyDirectory()]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var make = Process.Start(info)!;
        var stderr = make.StandardError.ReadToEndAsync();
        string stdout = make.StandardOutput.ReadToEnd();
        make.WaitForExit();
        if (make.ExitCode != 0) throw new FirmwareEmulatorException($"make in {dir} failed (are {Packages} installed?): {stdout.Trim()} {stderr.Result.Trim()}");
        return (Path.Combine(dir, "build", "StandardFirmata", "StandardFirmata.elf"), Path.Combine(dir, "build", "ConfigurableFirmata", "ConfigurableFirmata.elf"));
    }
}
