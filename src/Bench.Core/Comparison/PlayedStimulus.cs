using Bench.Core.Protocol;

namespace Bench.Core.Comparison;

/// <summary>A pulse as the comparison drives the model with it, in device sample indices.</summary>
/// <param name="OnsetIndex">First sample period of phase 1.</param>
/// <param name="StimId">The stimulus it belongs to.</param>
/// <param name="Train">Train number within the stimulus.</param>
/// <param name="Pulse">Pulse number within the train.</param>
/// <param name="Confirmed">True when its StimulusEvent arrived; false when assumed as scheduled (its event never came).</param>
/// <param name="Aborted">True when the rig cut it short (StopAll, Stop, watchdog).</param>
public readonly record struct PlayedPulse(ulong OnsetIndex, ushort StimId, byte Train, ushort Pulse, bool Confirmed, bool Aborted);

/// <summary>
/// The stimulus one rig output played, sample by sample, as far as it is known. A rig reports each pulse (StimulusEvent)
/// only once it has ended, so a pulse becomes known late; the Stimulus command says when the next pulse can begin at the
/// earliest, so until then the output is known to be at rest. The comparison therefore steps its model freely between
/// pulses and waits at a pulse's scheduled onset for the pulse's event. An event that never comes (lost on the link) is
/// replaced after <see cref="EventWaitSamples"/> by the pulse as scheduled: the rig plays its schedule exactly.
/// Pure; no allocation per sample.
/// </summary>
public sealed class PlayedStimulus
{
    private readonly List<Schedule> schedules = [];
    private readonly Queue<(ulong Start, ulong End, short Code)> segments = new(64);
    private readonly Queue<PlayedPulse> onsets = new(64);
    private ulong lastSegmentEnd;

    /// <summary>Creates the stimulus of output <paramref name="output"/>, nothing scheduled.</summary>
    /// <param name="output">The rig output that drives the preparation; events of other outputs are ignored.</param>
    /// <param name="eventWaitSamples">How long past a pulse's scheduled end its event is waited for before it is assumed.</param>
    public PlayedStimulus(byte output, ulong eventWaitSamples)
    {
        Output = output;
        EventWaitSamples = eventWaitSamples;
    }

    /// <summary>The output followed.</summary>
    public byte Output { get; }

    /// <summary>Samples past a pulse's scheduled end after which a missing event is replaced by the schedule.</summary>
    public ulong EventWaitSamples { get; }

    /// <summary>Pulses whose StimulusEvent arrived.</summary>
    public long PulsesConfirmed { get; private set; }

    /// <summary>Pulses assumed as scheduled because their event did not arrive in time.</summary>
    public long PulsesAssumed { get; private set; }

    /// <summary>Pulses the rig reported as aborted.</summary>
    public long PulsesAborted { get; private set; }

    /// <summary>Events that matched nothing scheduled, or came after the model had passed their onset.</summary>
    public long EventsIgnored { get; private set; }

    /// <summary>Samples of the longest pulse scheduled (phase 1 + interphase + phase 2).</summary>
    public ulong LongestPulseSamples { get; private set; }

    /// <summary>Samples from a command's time zero to the onset of pulse <paramref name="pulse"/> of train <paramref name="train"/>
    /// (trains follow each other, each after its own delay).</summary>
    public static ulong OffsetOf(StimulusCommand command, int train, int pulse)
    {
        ArgumentNullException.ThrowIfNull(command);
        ulong start = command.Trains[0].DelaySamples;
        for (int i = 0; i < train && i + 1 < command.Trains.Count; i++)
        {
            start += ((ulong)command.Trains[i].PulseCount * command.Trains[i].IntervalSamples) + command.Trains[i + 1].DelaySamples;
        }

        return start + ((ulong)pulse * command.Trains[Math.Min(train, command.Trains.Count - 1)].IntervalSamples);
    }

    /// <summary>
    /// Adds a Stimulus the rig accepted. With <see cref="StimulusCommand.AtIndex"/> its schedule is known; otherwise it
    /// starts when the rig received it, which the first of its events tells; until then nothing from
    /// <paramref name="earliestIndex"/> on is known.
    /// </summary>
    public void AddCommand(StimulusCommand command, ulong earliestIndex = 0)
    {
        if (command.Output != Output || command.Trains.Count == 0) return;
        var s = new Schedule(command, earliestIndex);
        if ((command.Flags & StimulusCommand.AtIndex) != 0) s.Anchor(command.StartIndex);
        foreach (var t in command.Trains) LongestPulseSamples = Math.Max(LongestPulseSamples, (ulong)t.Phase1Samples + t.InterphaseSamples + t.Phase2Samples);
        schedules.Add(s);
    }

    /// <summary>
    /// A pulse as the rig reports it (onset in the same index as the samples). Pulses of the same stimulus scheduled before
    /// it whose events were lost are taken as scheduled. An aborted pulse ends at <paramref name="receivedEnd"/> (the rig
    /// reports the abort at once, so no later sample saw it), and nothing of its stimulus plays after it.
    /// </summary>
    /// <param name="e">The event.</param>
    /// <param name="receivedEnd">Index just past the last sample received so far.</param>
    /// <param name="modelIndex">The first sample the model has not stepped yet: a pulse before it comes too late.</param>
    public void OnEvent(in StimulusEvent e, ulong receivedEnd, ulong modelIndex)
    {
        if (e.Output != Output) return;
        ushort stimId = e.StimId;
        var s = schedules.Find(x => !x.Finished && x.Command.StimId == stimId);
        if (s is null || e.Train >= s.Command.Trains.Count)
        {
            EventsIgnored++;
            return;
        }

        if (!s.Anchored)
        {
            ulong offset = s.OffsetOf(e.Train, e.Pulse);
            if (e.OnsetIndex < offset)
            {
                EventsIgnored++;
                return;
            }

            s.Anchor(e.OnsetIndex - offset);
        }

        while (!s.Finished && (s.Train < e.Train || (s.Train == e.Train && s.Pulse < e.Pulse)))
        {
            if (s.NextOnset < modelIndex) break;
            Emit(s, s.NextOnset, s.Current.Phase1Code, s.Current.Phase2Code, ulong.MaxValue, confirmed: false, aborted: false);
            PulsesAssumed++;
            s.Advance();
        }

        if (s.Finished || s.Train != e.Train || s.Pulse != e.Pulse || e.OnsetIndex < modelIndex || e.OnsetIndex < lastSegmentEnd)
        {
            EventsIgnored++;
            return;
        }

        // The event's onset is the truth (it equals the schedule's unless the schedule was anchored by guesswork).
        bool aborted = (e.Flags & StimulusEvent.Aborted) != 0;
        Emit(s, e.OnsetIndex, e.Phase1Code, e.Phase2Code, aborted ? Math.Max(receivedEnd, e.OnsetIndex + 1) : ulong.MaxValue, confirmed: true, aborted);
        PulsesConfirmed++;
        if (aborted)
        {
            PulsesAborted++;
            s.Finished = true;
            return;
        }

        s.Realign(e.OnsetIndex);
        s.Advance();
        if ((e.Flags & StimulusEvent.Last) != 0) s.Finished = true;
    }

    /// <summary>
    /// Every sample before the returned index has a known stimulus. Pulses whose events are overdue (the samples received
    /// reach <see cref="EventWaitSamples"/> past their scheduled end, or <paramref name="force"/> is set) are taken as scheduled
    /// first; a stimulus that never started within the wait is dropped.
    /// </summary>
    /// <param name="receivedEnd">Index just past the last sample received.</param>
    /// <param name="force">Take every pulse before <paramref name="receivedEnd"/> as scheduled (end of a recording, full buffer).</param>
    public ulong KnownUntil(ulong receivedEnd, bool force = false)
    {
        while (schedules.Count > 0)
        {
            var s = schedules[0];
            if (s.Finished)
            {
                schedules.RemoveAt(0);
                continue;
            }

            if (!s.Anchored)
            {
                if (force || receivedEnd >= s.EarliestIndex + s.OffsetOf(0, 0) + LongestPulseSamples + EventWaitSamples)
                {
                    // No event within the wait after it could have started: the rig never played it.
                    s.Finished = true;
                    continue;
                }

                return s.EarliestIndex;
            }

            ulong onset = s.NextOnset;
            ulong end = onset + s.Width;
            bool overdue = force ? onset < receivedEnd : receivedEnd >= end + EventWaitSamples;
            if (!overdue) return onset;
            Emit(s, onset, s.Current.Phase1Code, s.Current.Phase2Code, ulong.MaxValue, confirmed: false, aborted: false);
            PulsesAssumed++;
            s.Advance();
        }

        return ulong.MaxValue;
    }

    /// <summary>The code the output held in sample period <paramref name="index"/> (call with increasing indices below <see cref="KnownUntil"/>).</summary>
    public short CodeAt(ulong index)
    {
        while (segments.Count > 0)
        {
            var (start, end, code) = segments.Peek();
            if (end <= index)
            {
                segments.Dequeue();
                continue;
            }

            return index >= start ? code : (short)0;
        }

        return 0;
    }

    /// <summary>The next pulse onset at or before <paramref name="index"/>, removed from the queue (for per-pulse epochs).</summary>
    public bool TryTakeOnset(ulong index, out PlayedPulse pulse)
    {
        if (onsets.Count > 0 && onsets.Peek().OnsetIndex <= index)
        {
            pulse = onsets.Dequeue();
            return true;
        }

        pulse = default;
        return false;
    }

    private void Emit(Schedule s, ulong onset, short phase1, short phase2, ulong cutAt, bool confirmed, bool aborted)
    {
        var t = s.Current;
        ulong p1End = Math.Min(onset + t.Phase1Samples, cutAt);
        ulong p2Start = onset + t.Phase1Samples + t.InterphaseSamples;
        ulong p2End = Math.Min(p2Start + t.Phase2Samples, cutAt);
        if (phase1 != 0 && p1End > onset) segments.Enqueue((onset, p1End, phase1));
        if (phase2 != 0 && t.Phase2Samples > 0 && p2End > p2Start) segments.Enqueue((p2Start, p2End, phase2));
        lastSegmentEnd = Math.Max(lastSegmentEnd, Math.Min(onset + s.Width, cutAt));
        onsets.Enqueue(new PlayedPulse(onset, s.Command.StimId, (byte)s.Train, (ushort)s.Pulse, confirmed, aborted));
    }

    /// <summary>One Stimulus command's schedule, walked pulse by pulse as <see cref="Instrument.PulsePlayer"/> plays it.</summary>
    private sealed class Schedule(StimulusCommand command, ulong earliestIndex)
    {
        public StimulusCommand Command { get; } = command;

        public ulong EarliestIndex { get; } = earliestIndex;

        public bool Anchored { get; private set; }

        public ulong StartIndex { get; private set; }

        public bool Finished { get; set; }

        public int Train { get; private set; }

        public int Pulse { get; private set; }

        private ulong trainStart;

        public StimulusTrain Current => Command.Trains[Train];

        public ulong NextOnset => trainStart + ((ulong)Pulse * Current.IntervalSamples);

        public ulong Width => (ulong)Current.Phase1Samples + Current.InterphaseSamples + Current.Phase2Samples;

        public void Anchor(ulong start)
        {
            Anchored = true;
            StartIndex = start;
            Train = 0;
            Pulse = 0;
            trainStart = start + Command.Trains[0].DelaySamples;
        }

        /// <summary>Samples from the command's start to the onset of pulse <paramref name="pulse"/> of train <paramref name="train"/>.</summary>
        public ulong OffsetOf(int train, int pulse) => PlayedStimulus.OffsetOf(Command, train, pulse);

        /// <summary>The rig's onset of the current pulse moves the schedule with it.</summary>
        public void Realign(ulong onset) => trainStart = onset - ((ulong)Pulse * Current.IntervalSamples);

        public void Advance()
        {
            if (Pulse + 1 < Current.PulseCount)
            {
                Pulse++;
                return;
            }

            if (Train + 1 >= Command.Trains.Count)
            {
                Finished = true;
                return;
            }

            trainStart += ((ulong)Current.PulseCount * Current.IntervalSamples) + Command.Trains[Train + 1].DelaySamples;
            Train++;
            Pulse = 0;
        }
    }
}
