using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Bench.Core.Protocol;

/// <summary>
/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, no final XOR; check value 0x29B1), as
/// PROTOCOL.md §2.3 specifies. Table-driven, sixteen bytes per round (slicing-by-16), because the CRC is most of
/// the cost of decoding sample traffic.
/// </summary>
public static class Crc16
{
    /// <summary>The initial register value.</summary>
    public const ushort Initial = 0xFFFF;

    // Tables[k][v]: the register contribution of byte v followed by k zero bytes (k < 16: 8 KB, in L1).
    private static readonly ushort[] Tables = BuildTables();

    private static ushort[] BuildTables()
    {
        var t = new ushort[16 * 256];
        for (int v = 0; v < 256; v++)
        {
            int crc = v << 8;
            for (int bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }

            t[v] = (ushort)crc;
        }

        for (int k = 1; k < 16; k++)
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
        for (; i + 16 <= n; i += 16)
        {
            ulong w = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i));
            ulong u = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i + 8));
            // The register meets the first two bytes; the other fourteen enter on their own.
            uint x0 = (uint)(w & 0xFF) ^ (c >> 8);
            uint x1 = (uint)((w >> 8) & 0xFF) ^ (c & 0xFF);
            c = (uint)(Unsafe.Add(ref t, (15 * 256) + (int)x0)
                ^ Unsafe.Add(ref t, (14 * 256) + (int)x1)
                ^ Unsafe.Add(ref t, (13 * 256) + (int)((w >> 16) & 0xFF))
                ^ Unsafe.Add(ref t, (12 * 256) + (int)((w >> 24) & 0xFF))
                ^ Unsafe.Add(ref t, (11 * 256) + (int)((w >> 32) & 0xFF))
                ^ Unsafe.Add(ref t, (10 * 256) + (int)((w >> 40) & 0xFF))
                ^ Unsafe.Add(ref t, (9 * 256) + (int)((w >> 48) & 0xFF))
                ^ Unsafe.Add(ref t, (8 * 256) + (int)(w >> 56))
                ^ Unsafe.Add(ref t, (7 * 256) + (int)(u & 0xFF))
                ^ Unsafe.Add(ref t, (6 * 256) + (int)((u >> 8) & 0xFF))
                ^ Unsafe.Add(ref t, (5 * 256) + (int)((u >> 16) & 0xFF))
                ^ Unsafe.Add(ref t, (4 * 256) + (int)((u >> 24) & 0xFF))
                ^ Unsafe.Add(ref t, (3 * 256) + (int)((u >> 32) & 0xFF))
                ^ Unsafe.Add(ref t, (2 * 256) + (int)((u >> 40) & 0xFF))
                ^ Unsafe.Add(ref t, 256 + (int)((u >> 48) & 0xFF))
                ^ Unsafe.Add(ref t, (int)(u >> 56)));
        }

        for (; i < n; i++)
        {
            c = ((c << 8) ^ Unsafe.Add(ref t, (int)(((c >> 8) ^ Unsafe.Add(ref p, i)) & 0xFF))) & 0xFFFF;
        }

        return (ushort)c;
    }
}
