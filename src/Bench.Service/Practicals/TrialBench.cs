using System.Text.Json.Nodes;
using Bench.Core.Models;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;
using Bench.Rig.Session;
using Bench.Service.Pipeline;

namespace Bench.Service.Practicals;

/// <summary>One trial: the membrane potential around a protocol, its time zero at sample <paramref name="OnsetSample"/>.</summary>
/// <param name="Mv">Membrane potential (mV), one value per sample.</param>
/// <param name="DtMs">Sample interval.</param>
/// <param name="OnsetSample">The sample of the protocol's time zero.</param>
public sealed record Trial(double[] Mv, double DtMs, int OnsetSample)
{
    /// <summary>Upward crossings of 0 mV (1 ms apart at least) at or after <paramref name="fromMs"/> (from the protocol's start).</summary>
    public int SpikesFrom(double fromMs)
    {
        int spikes = 0;
        double lastMs = double.NegativeInfinity;
        for (int i = Math.Max(1, OnsetSample + (int)Math.Round(fromMs / DtMs)); i < Mv.Length; i++)
        {
            if (Mv[i - 1] < 0 && Mv[i] >= 0 && (i * DtMs) - lastMs >= 1)
            {
                spikes++;
                lastMs = i * DtMs;
            }
        }

        return spikes;
    }
}

/// <summary>Where a practical's trials run: the rig, or the model. Each trial starts from rest.</summary>
public interface ITrialBench
{
    /// <summary>"rig" or "model".</summary>
    string Name { get; }

    /// <summary>Plays <paramref name="protocol"/> and returns the potential from 5 ms before it to 25 ms after its end.</summary>
    Task<Trial> RunAsync(StimulusProtocol protocol, CancellationToken cancellationToken);

    /// <summary>Why this bench cannot play <paramref name="protocol"/> (its limits), or null when it can.</summary>
    string? Refuses(StimulusProtocol protocol) => null;
}

/// <summary>
/// The model as the practical's second bench: driven by the same Stimulus command the rig gets (its DAC codes and
/// sample grid), so the model sees the protocol as the rig plays it, not as it was asked for.
/// </summary>
public sealed class ModelTrialBench : ITrialBench
{
    private readonly ModelDescriptor model;
    private readonly IReadOnlyDictionary<string, double> parameters;
    private readonly DeviceInfo device;
    private readonly uint periodTicks;
    private readonly double nanoampsPerCode;
    private readonly double areaUm2;

    /// <summary>A model bench that plays protocols as <paramref name="device"/> would at <paramref name="periodTicks"/>.</summary>
    public ModelTrialBench(ModelDescriptor model, IReadOnlyDictionary<string, double> parameters, DeviceInfo device, uint periodTicks, double nanoampsPerCode, double areaUm2)
    {
        this.model = model;
        this.parameters = parameters;
        this.device = device;
        this.periodTicks = periodTicks;
        this.nanoampsPerCode = nanoampsPerCode;
        this.areaUm2 = areaUm2;
    }

    /// <summary>The model on an ideal rig: 20 kHz, 1 nA per code up to ±2047 nA, phases up to 1 s (a Bench rig's, as emulated).</summary>
    public static ModelTrialBench OnIdealRig(ModelDescriptor model, IReadOnlyDictionary<string, double> parameters, double areaUm2) => new(model, parameters,
        new DeviceInfo(ProtocolLimits.Version, ProtocolLimits.MinorVersion, 1, 0, 0, "MODEL", 0, 16_000_000, 100_000, 5000, 12, 1, 0, ProtocolLimits.MaxTrains, 500,
            [new OutputDescriptor(Unit: 1, DacBits: 12, MaxAmplitudeCode: 2047, Scale: 1, MaxPhaseUs: 1_000_000, MaxCharge: 500_000)]),
        800, 1, areaUm2);

    /// <inheritdoc/>
    public string Name => "model";

    /// <inheritdoc/>
    public Task<Trial> RunAsync(StimulusProtocol protocol, CancellationToken cancellationToken)
    {
        double dt = periodTicks * 1000.0 / device.ClockHz;
        int pre = (int)Math.Round(5 / dt);
        int n = pre + (int)Math.Ceiling((protocol.EndMs + 25) / dt);
        var command = RigStimulus.ToCommand(protocol, device, 0, periodTicks, 1, (ulong)pre, nanoampsPerCode);
        var m = model.Create(parameters);
        var player = new PulsePlayer(command, (ulong)pre);
        var ended = new List<StimulusEvent>();
        double perCode = nanoampsPerCode * 1e5 / areaUm2;   // nA over the area → µA/cm²
        var v = new double[n];
        for (int k = 0; k < n; k++)
        {
            v[k] = m.VoltageMv;
            m.Step(player.CodeAt((ulong)k, ended) * perCode, dt);
            ended.Clear();
        }

        return Task.FromResult(new Trial(v, dt, pre));
    }
}

/// <summary>
/// The rig as the practical's bench: each protocol is scheduled at a sample index ahead of the samples received (at
/// least 150 ms after the last trial, so the preparation is back at rest), and the samples around it are taken from the
/// acquisition pipeline, calibrated. A trial that lost samples is run again.
/// </summary>
internal sealed class RigTrialBench : ITrialBench, IPipelineObserver, IAsyncDisposable
{
    private readonly RigConnection rig;
    private readonly AcquisitionPipeline pipeline;
    private readonly object gate = new();
    private double[]? buffer;
    private ulong from;
    private ulong filled;
    // Samples of the window received: fewer than its length is a hole, whether or not its gap event came yet.
    private ulong received;
    private bool lost;
    private TaskCompletionSource? complete;
    private ulong nextFree;
    private FileRecording? recording;
    private readonly bool ownsPipeline;

    private RigTrialBench(RigConnection rig)
    {
        this.rig = rig;
        pipeline = new AcquisitionPipeline(rig, null, this);
        ownsPipeline = true;
    }

    private RigTrialBench(RigConnection rig, AcquisitionPipeline pipeline)
    {
        this.rig = rig;
        this.pipeline = pipeline;
    }

    /// <summary>
    /// A bench on a pipeline that runs already (the service's, shared with the page): its owner passes the pipeline's
    /// batches and events on to this bench (as its <see cref="IPipelineObserver"/>); disposing the bench leaves the
    /// pipeline running.
    /// </summary>
    public static RigTrialBench Over(RigConnection rig, AcquisitionPipeline pipeline) => new(rig, pipeline);

    /// <inheritdoc/>
    public string Name => "rig";

    /// <summary>Starts acquisition on <paramref name="rig"/> (already connected and configured).</summary>
    public static async Task<RigTrialBench> StartAsync(RigConnection rig, CancellationToken cancellationToken)
    {
        var bench = new RigTrialBench(rig);
        await rig.Session.StartAsync(cancellationToken).ConfigureAwait(false);
        bench.pipeline.Start();
        return bench;
    }

    /// <inheritdoc/>
    public async Task<Trial> RunAsync(StimulusProtocol protocol, CancellationToken cancellationToken)
    {
        var session = rig.Session;
        double rate = session.SampleRateHz, dt = 1000 / rate;
        int pre = (int)Math.Round(5 / dt);
        int n = pre + (int)Math.Ceiling((protocol.EndMs + 25) / dt);
        for (int attempt = 0; attempt < 6; attempt++)
        {
            TaskCompletionSource? done = null;
            // The window, and what says it is complete, are set afresh for each start asked for, before its samples can
            // arrive: samples past a start the rig refused as too late must not complete the next start's window (that
            // returned an empty trial while its stimulus was still to play, which the next trial then found busy).
            ulong start;
            try
            {
                (_, start) = await pipeline.PlayAheadAsync(protocol, "practical", nextFree, 6, at =>
                {
                    lock (gate)
                    {
                        buffer = new double[n];
                        from = at - (ulong)pre;
                        filled = 0;
                        received = 0;
                        lost = false;
                        done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        complete = done;
                    }
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (RigCommandRefusedException e) when (e.Nack.Code == (byte)NackCode.Busy)
            {
                // The rig still plays an earlier stimulus on the output (one it took while the host, stalled, could not
                // tell): the trial is asked for again once that has had time to end.
                lock (gate) complete = null;
                nextFree = pipeline.NextIndex + (ulong)(0.5 * rate);
                continue;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30 + (n * dt / 1000)));
            try
            {
                await done!.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new InvalidOperationException("the rig sent no samples for a trial within 30 s: check the link (bench devices) and run the practical again");
            }

            nextFree = start + (ulong)n + (ulong)(0.15 * rate);
            lock (gate)
            {
                // A hole in the window (the rig dropped samples: its gap event may still be on its way) is a lost trial.
                if (!lost && received >= (ulong)buffer!.Length) return new Trial(buffer, dt, pre);
            }
        }

        throw new InvalidOperationException("six trials running, the rig lost samples or still played an earlier stimulus: check the link (bench devices), then run the practical again");
    }

    /// <inheritdoc/>
    public string? Refuses(StimulusProtocol protocol)
    {
        try
        {
            rig.Session.CheckStimulus(protocol);
            return null;
        }
        catch (StimulusProtocolException e)
        {
            return e.Message;
        }
    }

    /// <inheritdoc/>
    public void OnBatch(SampleBatch batch)
    {
        lock (gate)
        {
            if (buffer is null || complete is null) return;
            var calibration = rig.Calibration;
            ulong end = from + (ulong)buffer.Length;
            for (int i = 0; i < batch.Codes.Length; i++)
            {
                ulong index = batch.FirstSampleIndex + (ulong)i;
                if (index < from || index >= end) continue;
                buffer[index - from] = calibration.ToMillivolts(batch.Codes[i]);
                filled = Math.Max(filled, index - from + 1);
                received++;
            }

            if (filled >= (ulong)buffer.Length || batch.FirstSampleIndex >= end) complete.TrySetResult();
        }
    }

    /// <inheritdoc/>
    public void OnEvent(RigEvent e, PlayedProtocol? played)
    {
        if (e is not GapEvent gap) return;
        lock (gate)
        {
            if (buffer is not null && gap.StartIndex < from + (ulong)buffer.Length && gap.StartIndex + gap.Length > from) lost = true;
        }
    }

    /// <inheritdoc/>
    public void OnPredicted(ulong first, ReadOnlySpan<double> modelMv)
    {
    }

    /// <inheritdoc/>
    public void OnRecordingFailed(IRecordingTarget recording, Exception error)
    {
    }

    /// <inheritdoc/>
    public void OnTurnEnd()
    {
    }

    /// <summary>
    /// Records what follows, until <see cref="EndRecordingAsync"/>, into <paramref name="nwbPath"/> (through a journal
    /// beside it); on a pipeline that compares with a model, <paramref name="model"/> names it (its prediction is recorded too).
    /// </summary>
    public async Task BeginRecordingAsync(string nwbPath, CancellationToken cancellationToken,
        (string Name, IReadOnlyDictionary<string, double> Parameters, double AreaUm2)? model = null)
    {
        var next = new FileRecording(nwbPath, rig, model?.Name, model?.Parameters, model?.AreaUm2);
        await pipeline.AttachAsync(next, cancellationToken).ConfigureAwait(false);
        recording = next;
    }

    /// <summary>Ends the recording begun last and writes its NWB file; null if none was begun.</summary>
    public async Task<string?> EndRecordingAsync()
    {
        if (recording is not { } r) return null;
        recording = null;
        await pipeline.DetachAsync().ConfigureAwait(false);
        using (r)
        {
            r.Finish(new JsonObject { ["purpose"] = $"practical step {Path.GetFileNameWithoutExtension(r.NwbPath)}" });
        }

        return r.NwbPath;
    }

    /// <summary>Stops the pipeline if the bench started it (the rig's stimulation with it); a recording still open is finished first.</summary>
    public async ValueTask DisposeAsync()
    {
        await EndRecordingAsync().ConfigureAwait(false);
        if (ownsPipeline) await pipeline.DisposeAsync().ConfigureAwait(false);
    }
}
