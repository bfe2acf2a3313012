using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Bench.Service.Practicals;

namespace Bench.Service;

/// <summary>
/// The serializers of the service's own views, generated at build time (snake_case, as the API and the stream name
/// every field; NaN and ±∞ as named literals). The few anonymous bodies (trace chunks, gaps, notices) and the rest go
/// through reflection, chained after it.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(RigStatus))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(HealthView))]
[JsonSerializable(typeof(ComparisonView))]
[JsonSerializable(typeof(ModelObservables))]
[JsonSerializable(typeof(StimulusMarker))]
[JsonSerializable(typeof(ParameterSetView))]
[JsonSerializable(typeof(StimulusLimitsView))]
[JsonSerializable(typeof(SweepWindow))]
[JsonSerializable(typeof(ConfigView))]
[JsonSerializable(typeof(PlayResponse))]
[JsonSerializable(typeof(ValidationResponse))]
[JsonSerializable(typeof(ErrorView))]
[JsonSerializable(typeof(RecordingInfo))]
[JsonSerializable(typeof(List<RecordingInfo>))]
[JsonSerializable(typeof(PracticalView))]
[JsonSerializable(typeof(IReadOnlyList<PracticalSummary>))]
internal sealed partial class BenchJson : JsonSerializerContext
{
    /// <summary>The generated serializers first, reflection for what they do not cover.</summary>
    public static IJsonTypeInfoResolver Resolver { get; } = JsonTypeInfoResolver.Combine(Default, new DefaultJsonTypeInfoResolver());
}
