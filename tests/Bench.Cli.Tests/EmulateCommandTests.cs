namespace Bench.Cli.Tests;

/// <summary><c>bench emulate</c>'s option checks: mistakes are one clear line and exit code 2, before anything starts.</summary>
[Trait("Category", "EndToEnd")]
public sealed class EmulateCommandTests
{
    private static (int Code, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = BenchCli.Run(["emulate", .. args], output, error);
        return (code, error.ToString());
    }

    [Theory]
    [InlineData("--tcp", "127.0.0.1:0")]
    [InlineData("--faults", "drop=0.1")]
    [InlineData("--rate", "50000")]
    [InlineData("--buffer-samples", "100")]
    public void Emulated_rig_options_are_refused_with_the_firmware(string option, string value)
    {
        var (code, err) = Run("--firmware", option, value);
        Assert.Equal(2, code);
        Assert.Contains($"{option} is for the emulated rig, not with --firmware", err);
    }

    [Theory]
    [InlineData("--pin-log", "pins.csv")]
    [InlineData("--eeprom", "rig.eep")]
    [InlineData("--stimulus", "resistor")]
    [InlineData("--series-resistor-mohm", "50")]
    public void Firmware_options_need_the_firmware(string option, string value)
    {
        var (code, err) = Run("--pty", option, value);
        Assert.Equal(2, code);
        Assert.Contains($"{option} needs --firmware", err);
    }

    [Theory]
    [InlineData("0", "--series-resistor-mohm must be above 0")]
    [InlineData("-3", "--series-resistor-mohm must be above 0")]
    public void A_series_resistor_must_be_a_resistance(string value, string message)
    {
        var (code, err) = Run("--firmware", "/nonexistent/firmata.elf", "--series-resistor-mohm", value);
        Assert.Equal(2, code);
        Assert.Contains(message, err);
    }

    [Fact]
    public void The_Howland_path_takes_no_series_resistor()
    {
        var (code, err) = Run("--firmware", "--stimulus", "howland", "--series-resistor-mohm", "100");
        Assert.Equal(2, code);
        Assert.Contains("--series-resistor-mohm is for --stimulus resistor", err);
    }

    [Fact]
    public void A_missing_firmware_file_is_named()
    {
        var (code, err) = Run("--firmware", "/nonexistent/rig.elf");
        Assert.Equal(2, code);
        Assert.Contains("/nonexistent/rig.elf does not exist", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void A_bad_model_parameter_fails_before_anything_is_built()
    {
        var (code, err) = Run("--firmware", "--param", "gNa=-5");
        Assert.Equal(2, code);
        Assert.Contains("gNa", err);
    }
}
