using Bench.Storage.Catalog;

namespace Bench.Storage.Tests;

public sealed class RecordingNamesTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("paired-pulse_2024-05-06.1")]
    [InlineData("A.b..c")]
    [InlineData("x-")]
    public void Accepts_plain_names(string name)
    {
        Assert.True(RecordingNames.IsValid(name));
        Assert.Equal(name, RecordingNames.Validate(name));
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData("/etc/passwd")]
    [InlineData("C:\\x")]
    [InlineData(".hidden")]
    [InlineData("a b")]
    [InlineData("a\0b")]
    [InlineData("é")]
    [InlineData("~")]
    [InlineData("a\nb")]
    public void Refuses_anything_else(string? name)
    {
        Assert.False(RecordingNames.IsValid(name));
        Assert.Throws<ArgumentException>(() => RecordingNames.Validate(name));
    }

    [Fact]
    public void Refuses_too_long_names()
    {
        Assert.True(RecordingNames.IsValid(new string('a', 100)));
        Assert.Contains("at most 100", Assert.Throws<ArgumentException>(() => RecordingNames.Validate(new string('a', 101))).Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_inside_keeps_paths_in_the_data_directory()
    {
        string root = Path.Combine(Path.GetTempPath(), "bench-data");
        Assert.Equal(Path.Combine(root, "x.nwb"), RecordingNames.ResolveInside(root, "x.nwb"));
        Assert.Equal(Path.Combine(root, "recordings", "x.nwb"), RecordingNames.ResolveInside(root + "/", "recordings/x.nwb"));
        Assert.Equal(Path.Combine(root, "x.nwb"), RecordingNames.ResolveInside(root, "recordings/../x.nwb"));

        foreach (string escape in new[] { "../x", "..", ".", "", "/etc/passwd", "recordings/../../x", "../bench-data-other/x", "a/../../b" })
        {
            Assert.Throws<ArgumentException>(() => RecordingNames.ResolveInside(root, escape));
        }
    }

    [Fact]
    public void Recording_files_live_under_recordings()
    {
        Assert.Equal("recordings/run-1.nwb", RecordingNames.RelativeFilePath("run-1"));
        Assert.Throws<ArgumentException>(() => RecordingNames.RelativeFilePath("../run"));
    }

    [Fact]
    public void The_data_directory_follows_bench_then_xdg_then_home()
    {
        static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
            name => vars.FirstOrDefault(v => v.Name == name).Value;

        Assert.Equal("/srv/bench", BenchDataDirectory.Resolve(Env(("BENCH_DATA_DIR", "/srv/bench"), ("XDG_DATA_HOME", "/x")), "/home/u"));
        Assert.Equal("/x/bench", BenchDataDirectory.Resolve(Env(("XDG_DATA_HOME", "/x")), "/home/u"));
        Assert.Equal("/home/u/.local/share/bench", BenchDataDirectory.Resolve(Env(("BENCH_DATA_DIR", ""), ("XDG_DATA_HOME", "relative")), "/home/u"));
        Assert.Equal("/home/u/.local/share/bench", BenchDataDirectory.Resolve(Env(), "/home/u"));
        Assert.Equal(Path.GetFullPath("rel"), BenchDataDirectory.Resolve(Env(("BENCH_DATA_DIR", "rel")), "/home/u"));
        Assert.Throws<InvalidOperationException>(() => BenchDataDirectory.Resolve(Env(), ""));
    }
}
