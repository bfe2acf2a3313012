using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Bench.Core.Protocol;

/// <summary>
/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, no final XOR; check value 0x29B1), as
/// PROTOCOL.md §2.3 specifies. Table-driven, eight bytes per round (slicing-by-8), because the CRC is most of
/// the cost of decoding sample traffic.
/// </summary>
public static class Crc16
{
    /// <summary>The initial register value.</summary>
    public const ushort Initial = 0xFFFF;

    // Tables[k][v]: the register contribution of byte v followed by k zero bytes.
    private static readonly ushort[] Tables = BuildTables();

    private static ushort[] BuildTables()
    {
        var t = new ushort[8 * 256];
        for (int v = 0; v < 256; v++)
        {
            int crc = v << 8;
            for (int bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }

            t[v] = (ushort)crc;
        }

        for (int k = 1; k < 8; k++)
        {
            for (int v = 0; v < 256; v++)
            {
                int prev = t[((k - 1) * 256) + v];
                t[(k * 256) + v] = (ushort)((prev << 8) ^ t[(prev >> 8) & 0xFF]);
            }
        }

        return t;
    }

    /// <summary>The CRC of <paramref name="data"/>.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Update(Initial, data);

    /// <summary>Continues a CRC over more data.</summary>
    public static ushort Update(ushort crc, ReadOnlySpan<byte> data)
    {
        ref ushort t = ref MemoryMarshal.GetArrayDataReference(Tables);
        ref byte p = ref MemoryMarshal.GetReference(data);
        int n = data.Length;
        int i = 0;
        uint c = crc;
        for (; i + 8 <= n; i += 8)
        {
            ulong w = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i));
            // The register meets the first two bytes; the other six enter on their own.
            uint x0 = (uint)(w & 0xFF) ^ (c >> 8);
            uint x1 = (uint)((w >> 8) & 0xFF) ^ (c & 0xFF);
            c = (uint)(Unsafe.Add(ref t, (7 * 256) + (int)x0)
                ^ Unsafe.Add(ref t, (6 * 256) + (int)x1)
                ^ Unsafe.Add(ref t, (5 * 256) + (int)((w >> 16) & 0xFF))
                ^ Unsafe.Add(ref t, (4 * 256) + (int)((w >> 24) & 0xFF))
                ^ Unsafe.Add(ref t, (3 * 256) + (int)((w >> 32) & 0xFF))
                ^ Unsafe.Add(ref t, (2 * 256) + (int)((w >> 40) & 0xFF))
                ^ Unsafe.Add(ref t, 256 + (int)((w >> 48) & 0xFF))
                ^ Unsafe.Add(ref t, (int)(w >> 56)));
        }

        for (; i < n; i++)
        {
            c = ((c << 8) ^ Unsafe.Add(ref t, (int)(((c >> 8) ^ Unsafe.Add(ref p, i)) & 0xFF))) & 0xFFFF;
        }

        return (ushort)c;
    }
}
