using System.CommandLine;

namespace Bench.Cli;

/// <summary>A mistake of the user's (bad option, unreadable file): reported as one line, never as a stack trace.</summary>
internal sealed class UserErrorException(string message) : Exception(message);

/// <summary>The <c>bench</c> command line.</summary>
internal static class BenchCli
{
    /// <summary>Exit code for a user error (bad input).</summary>
    public const int UserError = 2;

    /// <summary>Exit code for a rig that did not do what was asked (no answer in time, a refusal).</summary>
    public const int RigFailure = 3;

    private static bool Trace(Exception e, TextWriter error)
    {
        error.WriteLine(e.ToString());
        return false;
    }

    /// <summary>Runs <c>bench</c> with <paramref name="args"/>, writing to the given streams; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, TextReader? input = null)
    {
        var root = new RootCommand("Bench: electrophysiology teaching rig controller and Hodgkin-Huxley simulator")
        {
            SimulateCommand.Create(output),
            DecodeCommand.Create(output),
            EmulateCommand.Create(output),
            RecordCommand.Create(output, error),
            ExportCommand.Create(output),
            DevicesCommand.Create(output),
            ServeCommand.Create(output),
            RecoverCommand.Create(output, error),
            CalibrateCommand.Create(output, error, input ?? Console.In),
            CompareCommand.Create(output),
            FitCommand.Create(output, error),
            PracticalCommand.Create(output, error),
        };

        var parse = root.Parse(args);
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("BENCH_TRACE") == "1" && Trace(e, error))
        {
            throw;   // not reached: Trace prints the whole exception for a developer and returns false
        }
        catch (UserErrorException e)
        {
            error.WriteLine($"bench: {e.Message}");
            return UserError;
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"bench: {e.Message}");
            return UserError;
        }
        catch (IOException e)
        {
            error.WriteLine($"bench: {e.Message}");
            return UserError;
        }
        catch (UnauthorizedAccessException e)
        {
            error.WriteLine($"bench: {e.Message}");
            return UserError;
        }
        catch (TimeoutException e)
        {
            // A rig that does not answer is not a bug of this program: one line, no stack trace.
            error.WriteLine($"bench: {e.Message}");
            return RigFailure;
        }
        catch (Bench.Rig.Session.RigCommandRefusedException e)
        {
            error.WriteLine($"bench: {e.Message}");
            return RigFailure;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("bench: stopped");
            return 130;
        }
    }
}
