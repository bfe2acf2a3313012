using System.Text.Json;

namespace Bench.Core.Protocol;

/// <summary>
/// Writes a frame as the JSON object of PROTOCOL.md §11 (the golden vectors' <c>frames</c> entries): version, kind,
/// seq and every payload field in snake_case; 64-bit values as numbers below 2⁵³, else as decimal strings; a frame
/// whose payload does not parse as kind_code, parse_error and payload_hex. <c>bench decode</c> prints exactly this.
/// </summary>
public static class MessageJson
{
    private const ulong MaxExactDouble = 1UL << 53;

    /// <summary>Writes <paramref name="frame"/> as one JSON object; returns how its payload parsed.</summary>
    public static ParseError Write(Utf8JsonWriter w, Frame frame)
    {
        w.WriteStartObject();
        w.WriteNumber("version", frame.Version);
        w.WriteString("kind", ProtocolLimits.KindName(frame.KindCode));
        w.WriteNumber("seq", frame.Seq);
        var error = WriteFields(w, frame);
        if (error != ParseError.None)
        {
            w.WriteNumber("kind_code", frame.KindCode);
            w.WriteString("parse_error", error switch
            {
                ParseError.UnknownKind => "unknown_kind",
                ParseError.BadLength => "bad_length",
                _ => "out_of_range",
            });
            w.WriteString("payload_hex", Convert.ToHexStringLower(frame.Payload));
        }

        w.WriteEndObject();
        return error;
    }

    private static void WriteU64(Utf8JsonWriter w, string name, ulong value)
    {
        if (value < MaxExactDouble) w.WriteNumber(name, value); else w.WriteString(name, value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    // Fields are written only once the whole payload has parsed, so a bad frame shows no half-read values.
    private static ParseError WriteFields(Utf8JsonWriter w, Frame frame)
    {
        var p = frame.Payload;
        ParseError e;
        switch (frame.Kind)
        {
            case MessageKind.Hello:
                if ((e = Hello.TryParse(p, out var hello)) != ParseError.None) return e;
                w.WriteNumber("protocol_major", hello.ProtocolMajor);
                w.WriteNumber("protocol_minor", hello.ProtocolMinor);
                return e;
            case MessageKind.Configure:
                if ((e = Configure.TryParse(p, out var configure)) != ParseError.None) return e;
                w.WriteNumber("sample_rate_hz", configure!.SampleRateHz);
                w.WriteNumber("channel_mask", configure.ChannelMask);
                w.WriteNumber("block_samples", configure.BlockSamples);
                w.WriteStartArray("gains");
                foreach (var g in configure.Gains) w.WriteNumberValue(g);
                w.WriteEndArray();
                return e;
            case MessageKind.Start or MessageKind.Stop or MessageKind.StopAll or MessageKind.Heartbeat:
                return ParseError.None;
            case MessageKind.Stimulus:
                if ((e = StimulusCommand.TryParse(p, out var stimulus)) != ParseError.None) return e;
                w.WriteNumber("stim_id", stimulus!.StimId);
                w.WriteNumber("output", stimulus.Output);
                w.WriteNumber("flags", stimulus.Flags);
                WriteU64(w, "start_index", stimulus.StartIndex);
                w.WriteNumber("train_count", stimulus.Trains.Count);
                w.WriteStartArray("trains");
                foreach (var t in stimulus.Trains)
                {
                    w.WriteStartObject();
                    w.WriteNumber("delay_samples", t.DelaySamples);
                    w.WriteNumber("phase1_code", t.Phase1Code);
                    w.WriteNumber("phase1_samples", t.Phase1Samples);
                    w.WriteNumber("interphase_samples", t.InterphaseSamples);
                    w.WriteNumber("phase2_code", t.Phase2Code);
                    w.WriteNumber("phase2_samples", t.Phase2Samples);
                    w.WriteNumber("interval_samples", t.IntervalSamples);
                    w.WriteNumber("pulse_count", t.PulseCount);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                return e;
            case MessageKind.DeviceInfo:
                if ((e = DeviceInfo.TryParse(p, out var info)) != ParseError.None) return e;
                w.WriteNumber("protocol_major", info!.ProtocolMajor);
                w.WriteNumber("protocol_minor", info.ProtocolMinor);
                w.WriteNumber("fw_major", info.FirmwareMajor);
                w.WriteNumber("fw_minor", info.FirmwareMinor);
                w.WriteNumber("fw_patch", info.FirmwarePatch);
                w.WriteString("board", info.Board);
                WriteU64(w, "unique_id", info.UniqueId);
                w.WriteNumber("clock_hz", info.ClockHz);
                w.WriteNumber("max_sample_rate_hz", info.MaxSampleRateHz);
                w.WriteNumber("adc_ref_mv", info.AdcRefMv);
                w.WriteNumber("adc_bits", info.AdcBits);
                w.WriteNumber("input_channels", info.InputChannels);
                w.WriteNumber("gain_count", info.GainCount);
                w.WriteNumber("max_trains", info.MaxTrains);
                w.WriteNumber("watchdog_ms", info.WatchdogMs);
                w.WriteNumber("output_count", info.Outputs.Count);
                w.WriteStartArray("outputs");
                foreach (var o in info.Outputs)
                {
                    w.WriteStartObject();
                    w.WriteNumber("unit", o.Unit);
                    w.WriteNumber("dac_bits", o.DacBits);
                    w.WriteNumber("max_amplitude_code", o.MaxAmplitudeCode);
                    w.WriteNumber("scale", o.Scale);
                    w.WriteNumber("max_phase_us", o.MaxPhaseUs);
                    w.WriteNumber("max_charge", o.MaxCharge);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                return e;
            case MessageKind.Ack:
                if ((e = Ack.TryParse(p, out var ack)) != ParseError.None) return e;
                w.WriteNumber("acked_seq", ack.AckedSeq);
                w.WriteNumber("acked_kind", ack.AckedKind);
                w.WriteNumber("info", ack.Info);
                return e;
            case MessageKind.Nack:
                if ((e = Nack.TryParse(p, out var nack)) != ParseError.None) return e;
                w.WriteNumber("acked_seq", nack.AckedSeq);
                w.WriteNumber("acked_kind", nack.AckedKind);
                w.WriteNumber("code", nack.Code);
                w.WriteNumber("detail", nack.Detail);
                return e;
            case MessageKind.Status:
                if ((e = Status.TryParse(p, out var s)) != ParseError.None) return e;
                WriteU64(w, "sample_index", s.SampleIndex);
                WriteU64(w, "uptime_us", s.UptimeUs);
                w.WriteNumber("reply_seq", s.ReplySeq);
                w.WriteNumber("flags", s.Flags);
                w.WriteNumber("stim_active_mask", s.StimActiveMask);
                w.WriteNumber("buffer_high_water", s.BufferHighWater);
                w.WriteNumber("buffer_capacity", s.BufferCapacity);
                w.WriteNumber("overruns", s.Overruns);
                w.WriteNumber("dropped_samples", s.DroppedSamples);
                w.WriteNumber("rx_crc_errors", s.RxCrcErrors);
                w.WriteNumber("rx_framing_errors", s.RxFramingErrors);
                w.WriteNumber("rx_frames_lost", s.RxFramesLost);
                return e;
            case MessageKind.SampleBlock:
                if ((e = SampleBlock.TryParse(p, out var block)) != ParseError.None) return e;
                WriteU64(w, "first_sample_index", block.FirstSampleIndex);
                w.WriteNumber("channel_count", block.ChannelCount);
                w.WriteNumber("sample_count", block.SampleCount);
                w.WriteStartArray("samples");
                for (int i = 0; i < block.ChannelCount * block.SampleCount; i++) w.WriteNumberValue(block[i / block.ChannelCount, i % block.ChannelCount]);
                w.WriteEndArray();
                return e;
            case MessageKind.StimulusEvent:
                if ((e = StimulusEvent.TryParse(p, out var ev)) != ParseError.None) return e;
                WriteU64(w, "onset_index", ev.OnsetIndex);
                w.WriteNumber("stim_id", ev.StimId);
                w.WriteNumber("output", ev.Output);
                w.WriteNumber("train", ev.Train);
                w.WriteNumber("pulse", ev.Pulse);
                w.WriteNumber("phase1_code", ev.Phase1Code);
                w.WriteNumber("phase2_code", ev.Phase2Code);
                w.WriteNumber("flags", ev.Flags);
                return e;
            default:
                return ParseError.UnknownKind;
        }
    }

    /// <summary>Writes the counters as the vectors' <c>errors</c> object names them.</summary>
    public static void WriteCounters(Utf8JsonWriter w, in DecoderCounters c)
    {
        w.WriteNumber("frames_ok", c.FramesOk);
        w.WriteNumber("crc_errors", c.CrcErrors);
        w.WriteNumber("cobs_errors", c.CobsErrors);
        w.WriteNumber("short_frames", c.ShortFrames);
        w.WriteNumber("oversized", c.Oversized);
        w.WriteNumber("version_errors", c.VersionErrors);
        w.WriteNumber("bytes_skipped", c.BytesSkipped);
        w.WriteNumber("resyncs", c.Resyncs);
        w.WriteNumber("frames_lost", c.FramesLost);
        w.WriteNumber("seq_resets", c.SeqResets);
    }
}
