// Host unit tests of the C implementation against ../vectors/vectors.json and
// PROTOCOL.md. GoogleTest + nlohmann-json (Debian packages).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bench_protocol.h"

using json = nlohmann::json;
using Bytes = std::vector<uint8_t>;

namespace {

// ---- helpers ---------------------------------------------------------------

Bytes from_hex(const std::string &s)
{
    Bytes out;
    if (s.size() % 2)
        throw std::runtime_error("odd hex length");
    for (size_t i = 0; i < s.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
    return out;
}

std::string to_hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; i++) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

const json &vectors()
{
    static const json v = [] {
        std::ifstream in(BP_VECTORS_PATH);
        if (!in)
            throw std::runtime_error("cannot open " BP_VECTORS_PATH);
        return json::parse(in);
    }();
    return v;
}

const json &vector_named(const std::string &name)
{
    for (const auto &v : vectors())
        if (v["name"] == name)
            return v;
    throw std::runtime_error("no vector " + name);
}

struct KindName {
    uint8_t code;
    const char *name;
};
const KindName kKinds[] = {
    {BP_KIND_HELLO, "Hello"},           {BP_KIND_CONFIGURE, "Configure"},
    {BP_KIND_START, "Start"},           {BP_KIND_STOP, "Stop"},
    {BP_KIND_STIMULUS, "Stimulus"},     {BP_KIND_STOP_ALL, "StopAll"},
    {BP_KIND_HEARTBEAT, "Heartbeat"},   {BP_KIND_DEVICE_INFO, "DeviceInfo"},
    {BP_KIND_ACK, "Ack"},               {BP_KIND_NACK, "Nack"},
    {BP_KIND_STATUS, "Status"},         {BP_KIND_SAMPLE_BLOCK, "SampleBlock"},
    {BP_KIND_STIMULUS_EVENT, "StimulusEvent"},
};

const char *kind_name(uint8_t code)
{
    for (const auto &k : kKinds)
        if (k.code == code)
            return k.name;
    return nullptr;
}

uint8_t kind_code(const std::string &name)
{
    for (const auto &k : kKinds)
        if (name == k.name)
            return k.code;
    throw std::runtime_error("unknown kind name " + name);
}

const char *parse_error_name(uint8_t err)
{
    switch (err) {
    case BP_NACK_UNKNOWN_KIND: return "unknown_kind";
    case BP_NACK_BAD_LENGTH: return "bad_length";
    case BP_NACK_OUT_OF_RANGE: return "out_of_range";
    default: return "?";
    }
}

json u64_json(uint64_t v)
{
    if (v < (1ull << 53))
        return json(v);
    return json(std::to_string(v));
}

uint64_t u64_from(const json &j)
{
    if (j.is_string())
        return std::stoull(j.get<std::string>());
    return j.get<uint64_t>();
}

// ---- frame <-> JSON through the C parse/encode functions -----------------

json frame_to_json(const uint8_t *f, size_t n)
{
    const uint8_t version = f[0], kind = f[1];
    const uint16_t seq = static_cast<uint16_t>(f[2] | (f[3] << 8));
    const uint8_t *p = f + BP_HEADER_LEN;
    const size_t len = n - BP_HEADER_LEN - BP_CRC_LEN;
    const char *name = kind_name(kind);
    json j = {{"version", version}, {"kind", name ? name : "unknown"}, {"seq", seq}};
    uint8_t err = BP_OK;

    switch (kind) {
    case BP_KIND_HELLO: {
        bp_hello_t m;
        if (!(err = bp_parse_hello(p, len, &m))) {
            j["protocol_major"] = m.protocol_major;
            j["protocol_minor"] = m.protocol_minor;
        }
        break;
    }
    case BP_KIND_CONFIGURE: {
        bp_configure_t m;
        if (!(err = bp_parse_configure(p, len, &m))) {
            j["sample_rate_hz"] = m.sample_rate_hz;
            j["channel_mask"] = m.channel_mask;
            j["block_samples"] = m.block_samples;
            json g = json::array();
            for (int i = 0, k = __builtin_popcount(m.channel_mask); i < k; i++)
                g.push_back(m.gains[i]);
            j["gains"] = g;
        }
        break;
    }
    case BP_KIND_START:
    case BP_KIND_STOP:
    case BP_KIND_STOP_ALL:
    case BP_KIND_HEARTBEAT:
        break;
    case BP_KIND_STIMULUS: {
        bp_stimulus_t m;
        if (!(err = bp_parse_stimulus(p, len, &m))) {
            j["stim_id"] = m.stim_id;
            j["output"] = m.output;
            j["flags"] = m.flags;
            j["start_index"] = u64_json(m.start_index);
            j["train_count"] = m.train_count;
            json trains = json::array();
            for (int i = 0; i < m.train_count; i++) {
                const bp_train_t &t = m.trains[i];
                trains.push_back({{"delay_samples", t.delay_samples},
                                  {"phase1_code", t.phase1_code},
                                  {"phase1_samples", t.phase1_samples},
                                  {"interphase_samples", t.interphase_samples},
                                  {"phase2_code", t.phase2_code},
                                  {"phase2_samples", t.phase2_samples},
                                  {"interval_samples", t.interval_samples},
                                  {"pulse_count", t.pulse_count}});
            }
            j["trains"] = trains;
        }
        break;
    }
    case BP_KIND_DEVICE_INFO: {
        bp_device_info_t m;
        if (!(err = bp_parse_device_info(p, len, &m))) {
            j["protocol_major"] = m.protocol_major;
            j["protocol_minor"] = m.protocol_minor;
            j["fw_major"] = m.fw_major;
            j["fw_minor"] = m.fw_minor;
            j["fw_patch"] = m.fw_patch;
            j["board"] = std::string(m.board);
            j["unique_id"] = u64_json(m.unique_id);
            j["clock_hz"] = m.clock_hz;
            j["max_sample_rate_hz"] = m.max_sample_rate_hz;
            j["adc_ref_mv"] = m.adc_ref_mv;
            j["adc_bits"] = m.adc_bits;
            j["input_channels"] = m.input_channels;
            j["gain_count"] = m.gain_count;
            j["max_trains"] = m.max_trains;
            j["watchdog_ms"] = m.watchdog_ms;
            j["output_count"] = m.output_count;
            json outs = json::array();
            for (int i = 0; i < m.output_count; i++) {
                const bp_output_t &o = m.outputs[i];
                outs.push_back({{"unit", o.unit},
                                {"dac_bits", o.dac_bits},
                                {"max_amplitude_code", o.max_amplitude_code},
                                {"scale", o.scale},
                                {"max_phase_us", o.max_phase_us},
                                {"max_charge", o.max_charge}});
            }
            j["outputs"] = outs;
        }
        break;
    }
    case BP_KIND_ACK: {
        bp_ack_t m;
        if (!(err = bp_parse_ack(p, len, &m))) {
            j["acked_seq"] = m.acked_seq;
            j["acked_kind"] = m.acked_kind;
            j["info"] = m.info;
        }
        break;
    }
    case BP_KIND_NACK: {
        bp_nack_t m;
        if (!(err = bp_parse_nack(p, len, &m))) {
            j["acked_seq"] = m.acked_seq;
            j["acked_kind"] = m.acked_kind;
            j["code"] = m.code;
            j["detail"] = m.detail;
        }
        break;
    }
    case BP_KIND_STATUS: {
        bp_status_t m;
        if (!(err = bp_parse_status(p, len, &m))) {
            j["sample_index"] = u64_json(m.sample_index);
            j["uptime_us"] = u64_json(m.uptime_us);
            j["reply_seq"] = m.reply_seq;
            j["flags"] = m.flags;
            j["stim_active_mask"] = m.stim_active_mask;
            j["buffer_high_water"] = m.buffer_high_water;
            j["buffer_capacity"] = m.buffer_capacity;
            j["overruns"] = m.overruns;
            j["dropped_samples"] = m.dropped_samples;
            j["rx_crc_errors"] = m.rx_crc_errors;
            j["rx_framing_errors"] = m.rx_framing_errors;
            j["rx_frames_lost"] = m.rx_frames_lost;
        }
        break;
    }
    case BP_KIND_SAMPLE_BLOCK: {
        bp_sample_block_t m;
        if (!(err = bp_parse_sample_block(p, len, &m))) {
            j["first_sample_index"] = u64_json(m.first_sample_index);
            j["channel_count"] = m.channel_count;
            j["sample_count"] = m.sample_count;
            json s = json::array();
            for (int i = 0; i < m.channel_count * m.sample_count; i++)
                s.push_back(bp_get_u16le(m.samples + 2 * i));
            j["samples"] = s;
        }
        break;
    }
    case BP_KIND_STIMULUS_EVENT: {
        bp_stimulus_event_t m;
        if (!(err = bp_parse_stimulus_event(p, len, &m))) {
            j["onset_index"] = u64_json(m.onset_index);
            j["stim_id"] = m.stim_id;
            j["output"] = m.output;
            j["train"] = m.train;
            j["pulse"] = m.pulse;
            j["phase1_code"] = m.phase1_code;
            j["phase2_code"] = m.phase2_code;
            j["flags"] = m.flags;
        }
        break;
    }
    default:
        err = BP_NACK_UNKNOWN_KIND;
    }
    if (err) {
        j = {{"version", version},
             {"kind", name ? name : "unknown"},
             {"seq", seq},
             {"kind_code", kind},
             {"parse_error", parse_error_name(err)},
             {"payload_hex", to_hex(p, len)}};
    }
    return j;
}

template <typename T> T num(const json &j, const char *key) { return j.at(key).get<T>(); }

// Encodes a frame object of the vectors file with the C encoders.
Bytes encode_json(const json &f)
{
    uint8_t out[BP_MAX_WIRE + 16];
    const size_t cap = BP_MAX_WIRE;
    const uint16_t seq = num<uint16_t>(f, "seq");
    size_t n = 0;
    if (f.contains("parse_error")) {
        Bytes payload = from_hex(f.at("payload_hex"));
        n = bp_encode_frame(out, cap, num<uint8_t>(f, "kind_code"), seq, payload.data(), payload.size());
        return Bytes(out, out + n);
    }
    const std::string kind = f.at("kind");
    switch (kind_code(kind)) {
    case BP_KIND_HELLO: {
        bp_hello_t m = {num<uint8_t>(f, "protocol_major"), num<uint8_t>(f, "protocol_minor")};
        n = bp_encode_hello(out, cap, seq, &m);
        break;
    }
    case BP_KIND_CONFIGURE: {
        bp_configure_t m;
        std::memset(&m, 0, sizeof m);
        m.sample_rate_hz = num<uint32_t>(f, "sample_rate_hz");
        m.channel_mask = num<uint16_t>(f, "channel_mask");
        m.block_samples = num<uint8_t>(f, "block_samples");
        const json &g = f.at("gains");
        EXPECT_EQ(g.size(), static_cast<size_t>(__builtin_popcount(m.channel_mask)));
        for (size_t i = 0; i < g.size() && i < BP_MAX_CHANNELS; i++)
            m.gains[i] = g[i].get<uint8_t>();
        n = bp_encode_configure(out, cap, seq, &m);
        break;
    }
    case BP_KIND_START: n = bp_encode_start(out, cap, seq); break;
    case BP_KIND_STOP: n = bp_encode_stop(out, cap, seq); break;
    case BP_KIND_STOP_ALL: n = bp_encode_stop_all(out, cap, seq); break;
    case BP_KIND_HEARTBEAT: n = bp_encode_heartbeat(out, cap, seq); break;
    case BP_KIND_STIMULUS: {
        bp_stimulus_t m;
        std::memset(&m, 0, sizeof m);
        m.stim_id = num<uint16_t>(f, "stim_id");
        m.output = num<uint8_t>(f, "output");
        m.flags = num<uint8_t>(f, "flags");
        m.start_index = u64_from(f.at("start_index"));
        m.train_count = num<uint8_t>(f, "train_count");
        const json &trains = f.at("trains");
        EXPECT_EQ(trains.size(), m.train_count);
        for (size_t i = 0; i < trains.size() && i < BP_MAX_TRAINS; i++) {
            const json &t = trains[i];
            bp_train_t &o = m.trains[i];
            o.delay_samples = num<uint32_t>(t, "delay_samples");
            o.phase1_code = num<int16_t>(t, "phase1_code");
            o.phase1_samples = num<uint16_t>(t, "phase1_samples");
            o.interphase_samples = num<uint16_t>(t, "interphase_samples");
            o.phase2_code = num<int16_t>(t, "phase2_code");
            o.phase2_samples = num<uint16_t>(t, "phase2_samples");
            o.interval_samples = num<uint32_t>(t, "interval_samples");
            o.pulse_count = num<uint16_t>(t, "pulse_count");
        }
        n = bp_encode_stimulus(out, cap, seq, &m);
        break;
    }
    case BP_KIND_DEVICE_INFO: {
        bp_device_info_t m;
        std::memset(&m, 0, sizeof m);
        m.protocol_major = num<uint8_t>(f, "protocol_major");
        m.protocol_minor = num<uint8_t>(f, "protocol_minor");
        m.fw_major = num<uint8_t>(f, "fw_major");
        m.fw_minor = num<uint8_t>(f, "fw_minor");
        m.fw_patch = num<uint16_t>(f, "fw_patch");
        const std::string board = f.at("board");
        EXPECT_LE(board.size(), BP_BOARD_LEN);
        std::strncpy(m.board, board.c_str(), BP_BOARD_LEN);
        m.unique_id = u64_from(f.at("unique_id"));
        m.clock_hz = num<uint32_t>(f, "clock_hz");
        m.max_sample_rate_hz = num<uint32_t>(f, "max_sample_rate_hz");
        m.adc_ref_mv = num<uint16_t>(f, "adc_ref_mv");
        m.adc_bits = num<uint8_t>(f, "adc_bits");
        m.input_channels = num<uint8_t>(f, "input_channels");
        m.gain_count = num<uint8_t>(f, "gain_count");
        m.max_trains = num<uint8_t>(f, "max_trains");
        m.watchdog_ms = num<uint16_t>(f, "watchdog_ms");
        m.output_count = num<uint8_t>(f, "output_count");
        const json &outs = f.at("outputs");
        EXPECT_EQ(outs.size(), m.output_count);
        for (size_t i = 0; i < outs.size() && i < BP_MAX_OUTPUTS; i++) {
            const json &o = outs[i];
            m.outputs[i].unit = num<uint8_t>(o, "unit");
            m.outputs[i].dac_bits = num<uint8_t>(o, "dac_bits");
            m.outputs[i].max_amplitude_code = num<uint16_t>(o, "max_amplitude_code");
            m.outputs[i].scale = num<uint32_t>(o, "scale");
            m.outputs[i].max_phase_us = num<uint32_t>(o, "max_phase_us");
            m.outputs[i].max_charge = num<uint32_t>(o, "max_charge");
        }
        n = bp_encode_device_info(out, cap, seq, &m);
        break;
    }
    case BP_KIND_ACK: {
        bp_ack_t m = {num<uint16_t>(f, "acked_seq"), num<uint8_t>(f, "acked_kind"), num<uint32_t>(f, "info")};
        n = bp_encode_ack(out, cap, seq, &m);
        break;
    }
    case BP_KIND_NACK: {
        bp_nack_t m = {num<uint16_t>(f, "acked_seq"), num<uint8_t>(f, "acked_kind"), num<uint8_t>(f, "code"),
                       num<uint16_t>(f, "detail")};
        n = bp_encode_nack(out, cap, seq, &m);
        break;
    }
    case BP_KIND_STATUS: {
        bp_status_t m;
        m.sample_index = u64_from(f.at("sample_index"));
        m.uptime_us = u64_from(f.at("uptime_us"));
        m.reply_seq = num<uint16_t>(f, "reply_seq");
        m.flags = num<uint8_t>(f, "flags");
        m.stim_active_mask = num<uint8_t>(f, "stim_active_mask");
        m.buffer_high_water = num<uint16_t>(f, "buffer_high_water");
        m.buffer_capacity = num<uint16_t>(f, "buffer_capacity");
        m.overruns = num<uint32_t>(f, "overruns");
        m.dropped_samples = num<uint32_t>(f, "dropped_samples");
        m.rx_crc_errors = num<uint16_t>(f, "rx_crc_errors");
        m.rx_framing_errors = num<uint16_t>(f, "rx_framing_errors");
        m.rx_frames_lost = num<uint16_t>(f, "rx_frames_lost");
        n = bp_encode_status(out, cap, seq, &m);
        break;
    }
    case BP_KIND_SAMPLE_BLOCK: {
        Bytes samples;
        for (const auto &s : f.at("samples")) {
            const uint16_t v = s.get<uint16_t>();
            samples.push_back(static_cast<uint8_t>(v));
            samples.push_back(static_cast<uint8_t>(v >> 8));
        }
        bp_sample_block_t m = {u64_from(f.at("first_sample_index")), num<uint8_t>(f, "channel_count"),
                               num<uint8_t>(f, "sample_count"), samples.data()};
        EXPECT_EQ(samples.size(), 2u * m.channel_count * m.sample_count);
        n = bp_encode_sample_block(out, cap, seq, &m);
        break;
    }
    case BP_KIND_STIMULUS_EVENT: {
        bp_stimulus_event_t m = {u64_from(f.at("onset_index")), num<uint16_t>(f, "stim_id"),
                                 num<uint8_t>(f, "output"),     num<uint8_t>(f, "train"),
                                 num<uint16_t>(f, "pulse"),     num<int16_t>(f, "phase1_code"),
                                 num<int16_t>(f, "phase2_code"), num<uint8_t>(f, "flags")};
        n = bp_encode_stimulus_event(out, cap, seq, &m);
        break;
    }
    }
    EXPECT_NE(n, 0u) << "encoder refused " << f.dump();
    return Bytes(out, out + n);
}

// ---- stream decoding -------------------------------------------------------

struct Decoded {
    std::vector<json> frames;
    std::vector<Bytes> raw;
    std::vector<uint8_t> events;
    json counters;
};

json counters_json(const bp_counters_t &c)
{
    return {{"frames_ok", c.frames_ok},       {"crc_errors", c.crc_errors},
            {"cobs_errors", c.cobs_errors},   {"short_frames", c.short_frames},
            {"oversized", c.oversized},       {"version_errors", c.version_errors},
            {"bytes_skipped", c.bytes_skipped}, {"resyncs", c.resyncs},
            {"frames_lost", c.frames_lost},   {"seq_resets", c.seq_resets}};
}

void on_event(const bp_decoder_t &d, uint8_t ev, Decoded &r)
{
    if (ev == BP_EV_NONE)
        return;
    r.events.push_back(ev);
    if (ev == BP_EV_FRAME) {
        r.raw.emplace_back(bp_frame(&d), bp_frame(&d) + bp_frame_len(&d));
        r.frames.push_back(frame_to_json(bp_frame(&d), bp_frame_len(&d)));
    }
}

// chunk == 0: bp_decoder_push byte by byte; otherwise bp_decoder_feed with
// chunk sizes cycling from `chunk`.
Decoded decode(const Bytes &data, size_t chunk = 0)
{
    static uint8_t buf[BP_MAX_FRAME];
    bp_decoder_t d;
    bp_decoder_init(&d, buf, sizeof buf);
    Decoded r;
    if (chunk == 0) {
        for (uint8_t b : data)
            on_event(d, bp_decoder_push(&d, b), r);
    } else {
        size_t pos = 0, size = chunk;
        while (pos < data.size()) {
            size_t end = std::min(data.size(), pos + size);
            size = size * 7 % 61 + 1; // irregular chunk sizes
            while (pos < end) {
                uint8_t ev;
                pos += bp_decoder_feed(&d, data.data() + pos, end - pos, &ev);
                on_event(d, ev, r);
            }
        }
    }
    r.counters = counters_json(d.count);
    return r;
}

// ---- parameterized tests over every vector ----------------------------------

std::vector<std::string> vector_names()
{
    std::vector<std::string> names;
    for (const auto &v : vectors())
        names.push_back(v.at("name"));
    return names;
}

class Vector : public ::testing::TestWithParam<std::string> {
protected:
    const json &v() const { return vector_named(GetParam()); }
    Bytes wire() const { return from_hex(v().at("hex")); }
};

TEST_P(Vector, DecodesByteByByteToTheExpectedFramesAndCounters)
{
    Decoded r = decode(wire());
    EXPECT_EQ(json(r.frames), v().at("frames"));
    EXPECT_EQ(r.counters, v().at("errors"));
    bool parsed = true;
    for (const auto &f : r.frames)
        parsed = parsed && !f.contains("parse_error");
    const json &e = v().at("errors");
    const bool clean = e["crc_errors"] == 0 && e["cobs_errors"] == 0 && e["short_frames"] == 0 &&
                       e["oversized"] == 0 && e["version_errors"] == 0 && e["bytes_skipped"] == 0 &&
                       e["resyncs"] == 0;
    EXPECT_EQ(v().at("valid").get<bool>(), clean && parsed && !r.frames.empty());
}

TEST_P(Vector, DecodesInIrregularChunksTheSame)
{
    const Bytes data = wire();
    Decoded ref = decode(data);
    for (size_t chunk : {1u, 2u, 3u, 5u, 64u, 300u}) {
        Decoded r = decode(data, chunk);
        EXPECT_EQ(json(r.frames), json(ref.frames)) << "chunk " << chunk;
        EXPECT_EQ(r.counters, ref.counters) << "chunk " << chunk;
        EXPECT_EQ(r.events, ref.events) << "chunk " << chunk;
    }
}

TEST_P(Vector, ValidSingleFrameHasItsFields)
{
    if (!v().at("valid").get<bool>() || v().at("frames").size() != 1) {
        EXPECT_FALSE(v().contains("fields"));
        return;
    }
    ASSERT_TRUE(v().contains("fields"));
    EXPECT_EQ(v().at("fields"), v().at("frames")[0]);
}

TEST_P(Vector, CanonicalVectorsReEncodeToTheExactBytes)
{
    Bytes joined;
    bool parsed = true;
    for (const auto &f : v().at("frames")) {
        Bytes b = encode_json(f);
        joined.insert(joined.end(), b.begin(), b.end());
        parsed = parsed && !f.contains("parse_error");
    }
    if (v().at("canonical").get<bool>())
        EXPECT_EQ(to_hex(joined.data(), joined.size()), v().at("hex").get<std::string>());
    else
        EXPECT_TRUE(!parsed || v().at("frames").empty() ||
                    to_hex(joined.data(), joined.size()) != v().at("hex").get<std::string>());
}

TEST_P(Vector, EveryFrameRoundTrips)
{
    for (const auto &f : v().at("frames")) {
        Bytes b = encode_json(f);
        Decoded r = decode(b);
        ASSERT_EQ(r.frames.size(), 1u);
        EXPECT_EQ(r.frames[0], f);
        EXPECT_EQ(r.counters["frames_ok"], 1);
        EXPECT_LE(b.size(), BP_MAX_WIRE);
    }
}

TEST_P(Vector, EverySingleBitFlipIsDetected)
{
    if (!v().at("valid").get<bool>() || v().at("frames").size() != 1 || !v().at("canonical").get<bool>())
        return; // only single canonical frames
    const Bytes good = wire();
    for (size_t i = 0; i < good.size(); i++) {
        for (int bit = 0; bit < 8; bit++) {
            Bytes bad = good;
            bad[i] ^= static_cast<uint8_t>(1u << bit);
            Decoded r = decode(bad);
            ASSERT_EQ(r.counters["frames_ok"], 0) << "byte " << i << " bit " << bit;
            if (i > 0 && i + 1 < good.size()) { // body byte: some error is counted
                const json &c = r.counters;
                int errors = c["crc_errors"].get<int>() + c["cobs_errors"].get<int>() +
                             c["short_frames"].get<int>() + c["version_errors"].get<int>();
                ASSERT_GE(errors, 1) << "byte " << i << " bit " << bit;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Golden, Vector, ::testing::ValuesIn(vector_names()),
                         [](const ::testing::TestParamInfo<std::string> &info) { return info.param; });

// ---- coverage of the vectors file -----------------------------------------

TEST(VectorsFile, CoversEveryKindAndNackCode)
{
    std::set<std::string> kinds, invalid;
    std::set<int> nack_codes;
    std::set<std::string> names;
    size_t sample_blocks = 0, multi_train = 0;
    for (const auto &v : vectors()) {
        EXPECT_TRUE(names.insert(v.at("name").get<std::string>()).second) << "duplicate " << v["name"];
        if (!v.at("valid").get<bool>())
            invalid.insert(v.at("name").get<std::string>());
        for (const auto &f : v.at("frames")) {
            if (f.contains("parse_error"))
                continue;
            kinds.insert(f.at("kind").get<std::string>());
            if (f["kind"] == "Nack")
                nack_codes.insert(f.at("code").get<int>());
            if (f["kind"] == "SampleBlock")
                sample_blocks++;
            if (f["kind"] == "Stimulus" && f.at("train_count").get<int>() > 1)
                multi_train++;
        }
    }
    for (const auto &k : kKinds)
        EXPECT_TRUE(kinds.count(k.name)) << "no vector of kind " << k.name;
    for (int code = BP_NACK_UNKNOWN_KIND; code <= BP_NACK_WATCHDOG; code++)
        EXPECT_TRUE(nack_codes.count(code)) << "no Nack vector with code " << code;
    EXPECT_GE(sample_blocks, 4u);
    EXPECT_GE(multi_train, 2u);
    for (const char *n : {"bad_crc", "truncated_in_group", "oversized_then_frame", "unknown_version",
                          "zero_length", "garbage_between_frames", "garbage_before_first_frame"})
        EXPECT_TRUE(invalid.count(n)) << n;
}

TEST(VectorsFile, AllValidFramesConcatenatedDecodeInOrder)
{
    Bytes stream;
    std::vector<json> expected;
    for (const auto &v : vectors()) {
        if (!v.at("valid").get<bool>())
            continue;
        Bytes b = from_hex(v.at("hex"));
        stream.insert(stream.end(), b.begin(), b.end());
        for (const auto &f : v.at("frames"))
            expected.push_back(f);
    }
    Decoded r = decode(stream, 13);
    EXPECT_EQ(json(r.frames), json(expected));
    EXPECT_EQ(r.counters["crc_errors"], 0);
    EXPECT_EQ(r.counters["bytes_skipped"], 0);
}

// ---- CRC and COBS ------------------------------------------------------------

TEST(Crc, CheckValue)
{
    const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    EXPECT_EQ(bp_crc16(check, sizeof check), 0x29B1);
    EXPECT_EQ(bp_crc16(nullptr, 0), 0xFFFF);
    uint16_t crc = 0xFFFF;
    for (uint8_t b : check)
        crc = bp_crc16_update(crc, b);
    EXPECT_EQ(crc, 0x29B1);
}

TEST(Cobs, KnownEncodings)
{
    struct Case {
        const char *raw, *enc;
    } cases[] = {
        {"", "01"},
        {"00", "0101"},
        {"0000", "010101"},
        {"001100", "01021101"},
        {"11220033", "0311220233"},
        {"11223344", "0511223344"},
        {"11000000", "02110101 01"},
    };
    for (const auto &c : cases) {
        std::string e = c.enc;
        e.erase(std::remove(e.begin(), e.end(), ' '), e.end());
        Bytes raw = from_hex(c.raw), enc(300);
        size_t n = bp_cobs_encode(raw.data(), raw.size(), enc.data(), enc.size());
        ASSERT_NE(n, BP_COBS_ERROR);
        EXPECT_EQ(to_hex(enc.data(), n), e) << c.raw;
        Bytes dec(300);
        size_t m = bp_cobs_decode(enc.data(), n, dec.data(), dec.size());
        ASSERT_NE(m, BP_COBS_ERROR);
        EXPECT_EQ(to_hex(dec.data(), m), std::string(c.raw));
    }
}

TEST(Cobs, LongBlocks)
{
    Bytes raw254, raw255, raw0_254;
    for (int i = 1; i <= 254; i++)
        raw254.push_back(static_cast<uint8_t>(i));
    raw255 = raw254;
    raw255.push_back(0xFF);
    raw0_254.push_back(0);
    raw0_254.insert(raw0_254.end(), raw254.begin(), raw254.end());
    Bytes enc(600), dec(600);
    size_t n = bp_cobs_encode(raw254.data(), raw254.size(), enc.data(), enc.size());
    ASSERT_EQ(n, 255u); // FF + 254 bytes, no trailing 01
    EXPECT_EQ(enc[0], 0xFF);
    n = bp_cobs_encode(raw255.data(), raw255.size(), enc.data(), enc.size());
    ASSERT_EQ(n, 257u); // FF + 254 bytes, 02 FF
    EXPECT_EQ(enc[255], 0x02);
    EXPECT_EQ(enc[256], 0xFF);
    n = bp_cobs_encode(raw0_254.data(), raw0_254.size(), enc.data(), enc.size());
    ASSERT_EQ(n, 256u); // 01 FF + 254 bytes
    EXPECT_EQ(to_hex(enc.data(), 2), "01ff");
    // Decoding FF + 254 bytes + 01 (non-canonical) still yields the 254 bytes.
    Bytes nc = {0xFF};
    nc.insert(nc.end(), raw254.begin(), raw254.end());
    nc.push_back(0x01);
    EXPECT_EQ(bp_cobs_decode(nc.data(), nc.size(), dec.data(), dec.size()), 254u);
}

TEST(Cobs, RoundTripAndErrors)
{
    uint32_t s = 12345;
    for (size_t len = 0; len < 700; len += 7) {
        Bytes raw(len), enc(len + len / 254 + 2), dec(len + 1);
        for (auto &b : raw) {
            s = s * 1664525u + 1013904223u;
            b = (s >> 24) < 40 ? 0 : static_cast<uint8_t>(s >> 24);
        }
        size_t n = bp_cobs_encode(raw.data(), raw.size(), enc.data(), enc.size());
        ASSERT_NE(n, BP_COBS_ERROR) << len;
        EXPECT_EQ(std::count(enc.begin(), enc.begin() + static_cast<long>(n), 0), 0);
        size_t m = bp_cobs_decode(enc.data(), n, dec.data(), dec.size());
        ASSERT_EQ(m, len);
        EXPECT_TRUE(std::equal(raw.begin(), raw.end(), dec.begin()));
        if (n > 1) { // too small a destination
            EXPECT_EQ(bp_cobs_encode(raw.data(), raw.size(), enc.data(), n - 1), BP_COBS_ERROR);
        }
    }
    const uint8_t bad1[] = {0x03, 0x11};       // group runs past the end
    const uint8_t bad2[] = {0x02, 0x11, 0x00}; // zero inside a body
    uint8_t out[8];
    EXPECT_EQ(bp_cobs_decode(bad1, sizeof bad1, out, sizeof out), BP_COBS_ERROR);
    EXPECT_EQ(bp_cobs_decode(bad2, sizeof bad2, out, sizeof out), BP_COBS_ERROR);
}

// ---- encoder details ------------------------------------------------------------

TEST(Encoder, FrameFinishMatchesPlainCobsForEveryPayloadSize)
{
    uint8_t out[BP_MAX_WIRE], frame[BP_MAX_FRAME], enc[300];
    uint32_t s = 99;
    for (size_t len = 0; len <= BP_MAX_PAYLOAD; len++) {
        for (size_t i = 0; i < len; i++) {
            s = s * 1664525u + 1013904223u;
            out[BP_PAYLOAD_OFFSET + i] = (s >> 24) < 64 ? 0 : static_cast<uint8_t>(s >> 24);
        }
        std::memcpy(frame + 4, out + BP_PAYLOAD_OFFSET, len);
        size_t n = bp_frame_finish(out, sizeof out, 0x85, static_cast<uint16_t>(len * 257), len);
        ASSERT_EQ(n, len + BP_WIRE_OVERHEAD);
        frame[0] = 1;
        frame[1] = 0x85;
        frame[2] = static_cast<uint8_t>(len * 257);
        frame[3] = static_cast<uint8_t>((len * 257) >> 8);
        uint16_t crc = bp_crc16(frame, len + 4);
        frame[len + 4] = static_cast<uint8_t>(crc);
        frame[len + 5] = static_cast<uint8_t>(crc >> 8);
        size_t m = bp_cobs_encode(frame, len + 6, enc, sizeof enc);
        ASSERT_EQ(m + 2, n);
        EXPECT_EQ(out[0], 0);
        EXPECT_EQ(out[n - 1], 0);
        EXPECT_EQ(to_hex(out + 1, m), to_hex(enc, m)) << len;
    }
    EXPECT_EQ(bp_frame_finish(out, sizeof out, 0x85, 0, BP_MAX_PAYLOAD + 1), 0u);
    EXPECT_EQ(bp_frame_finish(out, 20, 0x85, 0, 12), 0u);
    EXPECT_EQ(bp_frame_finish(out, 21, 0x85, 0, 12), 21u);
}

TEST(Encoder, RefusesWhatDoesNotFit)
{
    uint8_t out[BP_MAX_WIRE];
    bp_stimulus_t st;
    std::memset(&st, 0, sizeof st);
    st.train_count = BP_MAX_TRAINS + 1;
    EXPECT_EQ(bp_encode_stimulus(out, sizeof out, 0, &st), 0u);
    st.train_count = 1;
    EXPECT_EQ(bp_encode_stimulus(out, 13 + 20 + 8, 0, &st), 0u);
    EXPECT_EQ(bp_encode_stimulus(out, 13 + 20 + 9, 0, &st), 13u + 20u + 9u);
    Bytes samples(2 * 120, 1);
    bp_sample_block_t sb = {0, 1, 120, samples.data()};
    EXPECT_EQ(bp_encode_sample_block(out, sizeof out, 0, &sb), 0u);
    sb.sample_count = 119;
    EXPECT_EQ(bp_encode_sample_block(out, sizeof out, 0, &sb), BP_MAX_WIRE);
    bp_device_info_t di;
    std::memset(&di, 0, sizeof di);
    di.output_count = BP_MAX_OUTPUTS + 1;
    EXPECT_EQ(bp_encode_device_info(out, sizeof out, 0, &di), 0u);
    EXPECT_EQ(bp_encode_heartbeat(out, 8, 0), 0u);
    EXPECT_EQ(bp_encode_heartbeat(out, 9, 0), 9u);
}

TEST(Encoder, SampleBlockZeroCopy)
{
    // The firmware writes samples straight into the transmit buffer.
    uint8_t out[BP_MAX_WIRE];
    uint8_t *samples = out + BP_PAYLOAD_OFFSET + 10;
    for (int i = 0; i < 6; i++) {
        samples[2 * i] = static_cast<uint8_t>(i * 50);
        samples[2 * i + 1] = static_cast<uint8_t>(i);
    }
    bp_sample_block_t sb = {1000, 3, 2, samples};
    size_t n = bp_encode_sample_block(out, sizeof out, 41, &sb);
    Decoded r = decode(Bytes(out, out + n));
    ASSERT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(r.frames[0]["samples"], json({0, 306, 612, 918, 1224, 1530}));
    EXPECT_EQ(r.frames[0]["first_sample_index"], 1000);
}

// ---- decoder details ----------------------------------------------------------

TEST(Decoder, FrameStaysReadableUntilTheNextByte)
{
    const Bytes hb = from_hex(vector_named("heartbeat").at("hex"));
    uint8_t buf[BP_MAX_FRAME];
    bp_decoder_t d;
    bp_decoder_init(&d, buf, sizeof buf);
    uint8_t ev = BP_EV_NONE;
    for (uint8_t b : hb)
        ev = bp_decoder_push(&d, b);
    ASSERT_EQ(ev, BP_EV_FRAME);
    EXPECT_EQ(bp_frame_kind(&d), BP_KIND_HEARTBEAT);
    EXPECT_EQ(bp_frame_version(&d), 1);
    EXPECT_EQ(bp_frame_seq(&d), 7);
    EXPECT_EQ(bp_frame_payload_len(&d), 0u);
    EXPECT_EQ(bp_frame_len(&d), 6u);
    EXPECT_EQ(bp_decoder_push(&d, 0), BP_EV_NONE);
    EXPECT_EQ(bp_frame_len(&d), 0u);
}

TEST(Decoder, VersionErrorKeepsTheFrameForTheNack)
{
    const Bytes v2 = from_hex(vector_named("unknown_version").at("hex"));
    uint8_t buf[BP_MAX_FRAME];
    bp_decoder_t d;
    bp_decoder_init(&d, buf, sizeof buf);
    uint8_t last = BP_EV_NONE;
    for (uint8_t b : v2) {
        uint8_t ev = bp_decoder_push(&d, b);
        if (ev != BP_EV_NONE)
            last = ev;
    }
    EXPECT_EQ(last, BP_EV_VERSION);
    EXPECT_EQ(bp_frame_version(&d), 2);
    EXPECT_EQ(bp_frame_kind(&d), BP_KIND_HELLO);
}

TEST(Decoder, SmallBufferCountsLongerBodiesAsOversized)
{
    const Bytes di = from_hex(vector_named("device_info_uno").at("hex"));
    const Bytes hb = from_hex(vector_named("heartbeat").at("hex"));
    uint8_t buf[32];
    bp_decoder_t d;
    bp_decoder_init(&d, buf, sizeof buf);
    Bytes stream = di;
    stream.insert(stream.end(), hb.begin(), hb.end());
    for (uint8_t b : stream)
        bp_decoder_push(&d, b);
    EXPECT_EQ(d.count.oversized, 1u);
    EXPECT_EQ(d.count.frames_ok, 1u);
    EXPECT_EQ(d.count.resyncs, 1u);
    EXPECT_EQ(d.count.bytes_skipped, di.size() - 2 - 33);
}

TEST(Decoder, EventsMatchCounters)
{
    const Bytes data = from_hex(vector_named("noise_between_frames").at("hex"));
    Decoded r = decode(data);
    std::map<uint8_t, int> n;
    for (uint8_t e : r.events)
        n[e]++;
    EXPECT_EQ(n[BP_EV_FRAME], r.counters["frames_ok"].get<int>());
    EXPECT_EQ(n[BP_EV_COBS_ERROR], r.counters["cobs_errors"].get<int>());
    EXPECT_EQ(n[BP_EV_CRC_ERROR], r.counters["crc_errors"].get<int>());
    EXPECT_EQ(n[BP_EV_SHORT], r.counters["short_frames"].get<int>());
}

TEST(Parser, ImplementationLimitIsOutOfRange)
{
    // A Stimulus with 2 trains parsed by a build whose bp_stimulus_t holds
    // fewer would be BP_NACK_OUT_OF_RANGE; with the default (11) a 12-train
    // Stimulus cannot fit in a frame, so it is BP_NACK_BAD_LENGTH.
    uint8_t p[BP_MAX_PAYLOAD] = {0};
    p[12] = 12;
    bp_stimulus_t m;
    EXPECT_EQ(bp_parse_stimulus(p, sizeof p, &m), BP_NACK_BAD_LENGTH);
    p[12] = 11;
    EXPECT_EQ(bp_parse_stimulus(p, 13 + 220, &m), BP_OK);
    EXPECT_EQ(bp_parse_stimulus(p, 13 + 219, &m), BP_NACK_BAD_LENGTH);
}

} // namespace
