using Bench.Cli;

return BenchCli.Run(args, Console.Out, Console.Error);
