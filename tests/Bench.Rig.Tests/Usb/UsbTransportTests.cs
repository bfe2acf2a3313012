using System.Buffers;
using System.IO.Pipelines;
using Bench.Rig.Transports;
using Bench.Rig.Usb;
using Bench.Tests;
using static Bench.Rig.Tests.FakeBulkEndpoints;

namespace Bench.Rig.Tests;

public sealed class UsbTransportTests
{
    private static readonly UsbAddress Device = new(0x1209, 0x0001, "S1");

    [Fact]
    public async Task Bytes_arrive_in_order_across_short_packets_and_zlps()
    {
        var fake = new FakeBulkEndpoints();
        await using var transport = new UsbTransport(fake, Device);
        byte[] expected = Enumerable.Range(0, 64 + 10 + 64 + 3).Select(i => (byte)i).ToArray();
        fake.Enqueue(
            new Data(expected[..64]),      // one full packet
            new Data(expected[64..74]),    // short packet
            new Zlp(),
            new Data(expected[74..138]),
            new Zlp(),
            new Zlp(),
            new Data(expected[138..]));

        Assert.Equal(expected, await ReadBytesAsync(transport.Input, expected.Length));
        Assert.False(transport.Input.TryRead(out _)); // nothing extra, and not completed
    }

    [Fact]
    public async Task Read_timeouts_are_retried_silently()
    {
        var fake = new FakeBulkEndpoints();
        await using var transport = new UsbTransport(fake, Device, readTimeoutMs: 20);
        fake.Enqueue(new ReadTimeout(), new ReadTimeout(), new Data("o"u8.ToArray()), new ReadTimeout(), new Data("k"u8.ToArray()));

        Assert.Equal("ok"u8.ToArray(), await ReadBytesAsync(transport.Input, 2));
        Assert.Equal(3, fake.TimeoutsServed);
        Assert.Equal(20, fake.LastReadTimeoutMs);
        Assert.False(transport.Input.TryRead(out _));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(512)]
    public async Task Read_buffer_is_at_least_512_bytes_and_whole_packets(int maxPacketSize)
    {
        var fake = new FakeBulkEndpoints(maxPacketSize);
        await using var transport = new UsbTransport(fake, Device, readTimeoutMs: 10);
        await WaitUntilAsync(() => fake.Reads > 0);

        Assert.True(fake.LastReadBufferLength >= 512);
        Assert.Equal(0, fake.LastReadBufferLength % maxPacketSize); // else the device could overflow it
    }

    [Theory]
    [InlineData(64, true)]
    [InlineData(128, true)]
    [InlineData(63, false)]
    [InlineData(65, false)]
    public async Task A_write_of_whole_packets_is_followed_by_a_zlp(int length, bool zlpExpected)
    {
        var fake = new FakeBulkEndpoints(maxPacketSize: 64);
        await using var transport = new UsbTransport(fake, Device);
        byte[] data = Enumerable.Range(1, length).Select(i => (byte)i).ToArray();

        await transport.Output.WriteAsync(data);
        await WaitUntilAsync(() => fake.Writes.Length >= 1);
        await transport.Output.WriteAsync(new byte[] { 0xEE }); // a marker: anything before it is all the first write caused
        await WaitUntilAsync(() => fake.Writes.Any(w => w is [0xEE]));

        byte[][] expected = zlpExpected ? [data, [], [0xEE]] : [data, [0xEE]];
        Assert.Equal(expected, fake.Writes);
    }

    [Fact]
    public async Task A_large_write_is_split_into_transfers_each_ended_properly()
    {
        var fake = new FakeBulkEndpoints(maxPacketSize: 512);
        await using var transport = new UsbTransport(fake, Device);
        byte[] data = Enumerable.Range(0, 40_000).Select(i => (byte)(i * 7)).ToArray();

        await transport.Output.WriteAsync(data);
        await WaitUntilAsync(() => fake.Writes.Sum(w => w.Length) == data.Length);

        Assert.Equal(data, fake.Writes.SelectMany(w => w).ToArray());
        foreach (var (write, next) in fake.Writes.Zip(fake.Writes.Skip(1)))
            if (write.Length > 0 && write.Length % 512 == 0)
                Assert.Empty(next); // every whole-packet transfer is followed by a ZLP
        Assert.DoesNotContain(fake.Writes, w => w.Length > 16 * 1024);
    }

    [Theory]
    [InlineData(null, "the halt was cleared")]
    [InlineData(UsbError.Pipe, "clearing the halt failed too")]
    public async Task A_stall_on_out_fails_output_with_a_clear_message_after_one_clear_halt(UsbError? clearFailure, string outcome)
    {
        var fake = new FakeBulkEndpoints { ClearHaltFailure = clearFailure };
        await using var transport = new UsbTransport(fake, Device);
        fake.FailNextWrite(UsbError.Pipe);

        await transport.Output.WriteAsync(new byte[10]);
        IOException error = await WriteUntilFailureAsync(transport.Output);

        Assert.IsNotType<RigDisconnectedException>(error);
        Assert.Contains("USB device 1209:0001 (serial S1) stalled its bulk OUT endpoint", error.Message);
        Assert.Contains(outcome, error.Message);
        Assert.Equal([UsbEndpointDirection.Out], fake.ClearHalts);
        // The IN direction is unaffected.
        fake.Enqueue(new Data(new byte[] { 42 }));
        Assert.Equal(new byte[] { 42 }, await ReadBytesAsync(transport.Input, 1));
    }

    [Fact]
    public async Task A_stall_on_in_fails_input_after_one_clear_halt()
    {
        var fake = new FakeBulkEndpoints();
        await using var transport = new UsbTransport(fake, Device);
        fake.Enqueue(new Stall());

        var error = await Assert.ThrowsAsync<IOException>(() => ReadBytesAsync(transport.Input, 1));

        Assert.Contains("stalled its bulk IN endpoint", error.Message);
        Assert.Equal([UsbEndpointDirection.In], fake.ClearHalts);
    }

    [Fact]
    public async Task A_write_timeout_fails_output_with_a_clear_message()
    {
        var fake = new FakeBulkEndpoints();
        await using var transport = new UsbTransport(fake, Device, writeTimeoutMs: 250);
        fake.FailNextWrite(UsbError.Timeout);

        await transport.Output.WriteAsync(new byte[3]);
        IOException error = await WriteUntilFailureAsync(transport.Output);

        Assert.Contains("did not accept data within 250 ms", error.Message);
        Assert.Empty(fake.ClearHalts);
    }

    [Theory]
    [InlineData(UsbError.NoDevice)]
    [InlineData(UsbError.Io)]
    public async Task A_disconnect_on_in_completes_input_fails_later_writes_and_stops_both_loops(UsbError error)
    {
        var fake = new FakeBulkEndpoints();
        await using var transport = new UsbTransport(fake, Device, readTimeoutMs: 10);
        fake.Enqueue(new Data("hi"u8.ToArray()));
        Assert.Equal("hi"u8.ToArray(), await ReadBytesAsync(transport.Input, 2));

        fake.Enqueue(new Disconnect(error));
        var disconnected = await Assert.ThrowsAsync<RigDisconnectedException>(() => ReadBytesAsync(transport.Input, 1));

        Assert.Equal("USB device 1209:0001 (serial S1) disconnected", disconnected.Message);
        Assert.Equal(error, Assert.IsType<UsbException>(disconnected.InnerException).Error);
        var writeError = await Assert.ThrowsAsync<RigDisconnectedException>(async () => await transport.Output.WriteAsync(new byte[1]));
        Assert.Same(disconnected, writeError);
        // Both loops stopped at the disconnect: once disposal has joined them, no read was made after the one that
        // found the device gone (a loop still running would have gone on reading, a 10 ms timeout at a time).
        await transport.DisposeAsync().AsTask().WaitAsync(Eventually.DefaultTimeout);
        Assert.Equal(fake.ReadsWhenUnplugged, fake.Reads);
        Assert.Empty(fake.Writes);
    }

    [Fact]
    public async Task A_disconnect_on_out_completes_input_too()
    {
        var fake = new FakeBulkEndpoints();
        await using var transport = new UsbTransport(fake, Device);
        fake.FailNextWrite(UsbError.NoDevice);

        await transport.Output.WriteAsync(new byte[5]);

        await Assert.ThrowsAsync<RigDisconnectedException>(() => ReadBytesAsync(transport.Input, 1));
        await Assert.ThrowsAsync<RigDisconnectedException>(async () => await transport.Output.WriteAsync(new byte[1]));
    }

    [Fact]
    public async Task Dispose_is_prompt_idempotent_and_leaves_given_endpoints_alone()
    {
        var fake = new FakeBulkEndpoints();
        var transport = new UsbTransport(fake, Device); // default 100 ms read timeout, device idle
        await WaitUntilAsync(() => fake.Reads > 0);

        // Prompt: disposal waits for the read in progress (at most one read timeout, 100 ms) and starts no other. Counted,
        // not timed, so a loaded machine cannot fail it; the deadline only ends a disposal that hangs.
        int before = fake.Reads;
        await transport.DisposeAsync().AsTask().WaitAsync(Eventually.DefaultTimeout);
        Assert.InRange(fake.Reads - before, 0, 1); // one may have begun between the count and the cancellation
        await transport.DisposeAsync();

        Assert.Equal(0, fake.DisposeCount);
        ReadResult end = await transport.Input.ReadAsync();
        Assert.True(end.IsCompleted);
        Assert.True(end.Buffer.IsEmpty);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await transport.Output.WriteAsync(new byte[1]));
    }

    [Fact]
    public async Task Dispose_is_prompt_while_the_consumer_is_not_reading()
    {
        var fake = new FakeBulkEndpoints();
        var transport = new UsbTransport(fake, Device);
        for (int i = 0; i < 100; i++) // 1.6 MB, more than Input buffers before pushing back
            fake.Enqueue(new Data(new byte[16 * 1024]));
        await WaitUntilAsync(() => fake.Reads >= 64);

        // The reader is held back by the unread pipe (or about to be: it flushes what it just read first); disposal
        // releases it without another transfer. Counted, not timed; the deadline only ends a disposal that hangs.
        int before = fake.Reads;
        await transport.DisposeAsync().AsTask().WaitAsync(Eventually.DefaultTimeout);
        Assert.Equal(before, fake.Reads);
        Assert.True(fake.Reads < 100, "the reader should have been held back by the unread pipe");
    }

    [Fact]
    public async Task Endpoints_it_owns_are_disposed_once()
    {
        var fake = new FakeBulkEndpoints();
        var transport = new UsbTransport(fake, Device, ownsEndpoints: true, readTimeoutMs: 100, writeTimeoutMs: 500);

        await transport.DisposeAsync();
        await transport.DisposeAsync();

        Assert.Equal(1, fake.DisposeCount);
    }

    [Theory]
    [InlineData(0x1209, 0x0001, "0123456789ABCDEF", "usb:1209:0001:0123456789ABCDEF")]
    [InlineData(0xABCD, 0x00EF, null, "usb:abcd:00ef")]
    public async Task Name_is_the_usb_address(int vid, int pid, string? serial, string name)
    {
        await using var transport = new UsbTransport(new FakeBulkEndpoints(), new UsbAddress((ushort)vid, (ushort)pid, serial));
        Assert.Equal(name, transport.Name);
    }

    [Fact]
    public void A_zero_max_packet_size_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => new UsbTransport(new FakeBulkEndpoints(maxPacketSize: 0), Device));
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes, failing the test after 30 s or if Input ends first.</summary>
    private static async Task<byte[]> ReadBytesAsync(PipeReader reader, int count)
    {
        using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
        var bytes = new List<byte>();
        while (bytes.Count < count)
        {
            ReadResult result = await reader.ReadAsync(timeout.Token);
            long take = Math.Min(count - bytes.Count, result.Buffer.Length);
            bytes.AddRange(result.Buffer.Slice(0, take).ToArray());
            reader.AdvanceTo(result.Buffer.GetPosition(take));
            if (result.IsCompleted && bytes.Count < count)
                throw new Xunit.Sdk.XunitException($"Input completed after {bytes.Count} of {count} bytes");
        }
        return bytes.ToArray();
    }

    /// <summary>The writer thread fails Output asynchronously: write until a write throws.</summary>
    private static async Task<IOException> WriteUntilFailureAsync(PipeWriter output)
    {
        IOException? error = null;
        await Eventually.True(async () =>
        {
            try
            {
                await output.WriteAsync(new byte[1]);
                return false;
            }
            catch (IOException e)
            {
                error = e;
                return true;
            }
        }, "Output fails");
        return error!;
    }

    private static Task WaitUntilAsync(Func<bool> condition) => Eventually.True(condition, "the fake endpoints reached the expected state");
}
