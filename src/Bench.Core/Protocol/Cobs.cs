namespace Bench.Core.Protocol;

/// <summary>
/// Consistent Overhead Byte Stuffing (Cheshire &amp; Baker 1999) as PROTOCOL.md §2.2 uses it: a code byte k + 1
/// before each run of k non-zero bytes; 0xFF means 254 bytes with no implied zero; no trailing 0x01 after a final
/// 254-byte block.
/// </summary>
public static class Cobs
{
    /// <summary>Largest encoded length of <paramref name="length"/> bytes.</summary>
    public static int MaxEncodedLength(int length) => length + (length / 254) + 1;

    /// <summary>Encodes <paramref name="source"/> (which may contain zeros) into <paramref name="destination"/>; returns the length written.</summary>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int codeAt = 0, w = 1;
        byte code = 1;
        for (int r = 0; r < source.Length; r++)
        {
            byte b = source[r];
            if (b == 0)
            {
                destination[codeAt] = code;
                codeAt = w++;
                code = 1;
                continue;
            }

            destination[w++] = b;
            code++;
            if (code == 0xFF && r + 1 < source.Length)
            {
                destination[codeAt] = code;
                codeAt = w++;
                code = 1;
            }
        }

        destination[codeAt] = code;
        return w;
    }

    /// <summary>
    /// Decodes a body (the bytes between two delimiters; it holds no zero). Returns the decoded length, or −1
    /// when a group runs past the end of the body (malformed) or the result would not fit.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> body, Span<byte> destination)
    {
        if (body.IsEmpty || body[0] == 0xFF || body.Length - 1 > destination.Length)
        {
            return DecodeByGroups(body, destination);
        }

        // Fast path: shift the body left by one byte in one copy, then turn each following code byte into the zero
        // it stands for. Only a first code can be 0xFF in a body this short (a later one would need 254 more bytes).
        body[1..].CopyTo(destination);
        int r = 0;
        while (true)
        {
            int code = body[r];
            if (code == 0xFF) return DecodeByGroups(body, destination);
            int next = r + code;
            if (next > body.Length) return -1;
            if (next == body.Length) return body.Length - 1;
            destination[next - 1] = 0;
            r = next;
        }
    }

    internal static int DecodeByGroups(ReadOnlySpan<byte> body, Span<byte> destination)
    {
        int r = 0, w = 0;
        while (r < body.Length)
        {
            int code = body[r++];
            int n = code - 1;
            if (code == 0 || n > body.Length - r || n > destination.Length - w)
            {
                return -1;
            }

            body.Slice(r, n).CopyTo(destination[w..]);
            w += n;
            r += n;
            if (code != 0xFF && r < body.Length)
            {
                if (w >= destination.Length) return -1;
                destination[w++] = 0;
            }
        }

        return w;
    }
}
