using Bench.Core.Protocol;

namespace Bench.Core.Instrument;

/// <summary>
/// Plays a Stimulus command on the sample grid as PROTOCOL.md §5.6 times it, one sample index at a time: the code
/// the output holds in each sample period, and a <see cref="StimulusEvent"/> for every pulse once it has ended.
/// Pure and allocation-free per sample; used by the emulated rig (and mirrors what the firmware does).
/// </summary>
public sealed class PulsePlayer
{
    private readonly StimulusCommand command;
    private int train;
    private int pulse;
    private ulong trainStart;
    private bool inPulse;
    private bool playedPhase2;

    /// <summary>Starts playing <paramref name="command"/>, whose time origin S is <paramref name="startIndex"/>.</summary>
    public PulsePlayer(StimulusCommand command, ulong startIndex)
    {
        this.command = command;
        trainStart = startIndex + command.Trains[0].DelaySamples;
    }

    /// <summary>The output this stimulus drives.</summary>
    public byte Output => command.Output;

    /// <summary>True once every pulse has been played (or the stimulus was aborted).</summary>
    public bool Finished { get; private set; }

    private ulong Onset => trainStart + ((ulong)pulse * command.Trains[train].IntervalSamples);

    /// <summary>The amplitude code for sample period <paramref name="index"/> (call with increasing indices); a pulse that ended adds its event.</summary>
    public short CodeAt(ulong index, List<StimulusEvent> ended)
    {
        while (!Finished)
        {
            var t = command.Trains[train];
            ulong onset = Onset;
            if (index < onset) return 0;
            ulong p1End = onset + t.Phase1Samples;
            ulong p2Start = p1End + t.InterphaseSamples;
            ulong end = p2Start + t.Phase2Samples;
            if (index < end)
            {
                inPulse = true;
                if (index < p1End) return t.Phase1Code;
                if (index < p2Start) return 0;
                playedPhase2 = true;
                return t.Phase2Code;
            }

            // This pulse is over: report it and move to the next.
            ended.Add(Event(onset, aborted: false, last: IsLastPulse));
            Next();
        }

        return 0;
    }

    /// <summary>Stops now (StopAll, Stop, watchdog): a pulse in progress is reported as aborted.</summary>
    public void Abort(List<StimulusEvent> ended)
    {
        if (Finished) return;
        if (inPulse) ended.Add(Event(Onset, aborted: true, last: true));
        Finished = true;
    }

    private bool IsLastPulse => train == command.Trains.Count - 1 && pulse == command.Trains[train].PulseCount - 1;

    private StimulusEvent Event(ulong onset, bool aborted, bool last)
    {
        var t = command.Trains[train];
        byte flags = (byte)((last ? StimulusEvent.Last : 0) | (aborted ? StimulusEvent.Aborted : 0));
        return new StimulusEvent(onset, command.StimId, command.Output, (byte)train, (ushort)pulse, t.Phase1Code,
            aborted && !playedPhase2 ? (short)0 : t.Phase2Code, flags);
    }

    private void Next()
    {
        inPulse = false;
        playedPhase2 = false;
        var t = command.Trains[train];
        if (pulse + 1 < t.PulseCount)
        {
            pulse++;
            return;
        }

        if (train + 1 >= command.Trains.Count)
        {
            Finished = true;
            return;
        }

        trainStart += ((ulong)t.PulseCount * t.IntervalSamples) + command.Trains[train + 1].DelaySamples;
        train++;
        pulse = 0;
    }
}
