// The post's `dotnet new webapiaot` Todo API, with the contract of examples/todo-api:
// listen on http://[::]:8080 (PORT), dates from the clock on every request in the local
// time zone (TZ), HEAD answered like GET, /healthz, and OpenAPI only in Development.
using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;

const string FakeNowVariable = "TODO_API_FAKE_NOW";

// Validate the environment up front: a bad value is one "crit:" line and exit 1, like the TS server.
TodoSettings settings;
try
{
    settings = TodoSettings.FromEnvironment(Environment.GetEnvironmentVariable);
}
catch (FormatException error)
{
    Console.Error.WriteLine($"crit: TodoApi[2]\n      {error.Message}");
    return 1;
}

var builder = WebApplication.CreateSlimBuilder(args);

// Warnings and errors go to stderr (the TS server does the same); lifecycle info stays on stdout.
builder.Logging.AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Warning);
// The template's appsettings.json level, set in code: the AOT image ships the executable only.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
// A port in use would be logged as "Hosting failed to start" plus a stack trace; the catch
// around app.Run() reports it as one crit line instead. Other start failures still throw.
builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);

// ASP.NET's own default is localhost:5000; containers expect [::]:8080 (dual-stack).
// PORT wins; otherwise ASPNETCORE_URLS / ASPNETCORE_HTTP_PORTS work as in any ASP.NET app.
if (settings.Port is int port)
{
    builder.WebHost.UseUrls($"http://[::]:{port}");
}
else if (!HasAspNetUrls())
{
    builder.WebHost.UseUrls("http://[::]:8080");
}

// No "Server: Kestrel" header: it tells a scanner what to try, and the TS server sends none.
builder.WebHost.ConfigureKestrel(options => options.AddServerHeader = false);

builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = settings.ShutdownTimeout);
// A failed `int id` binding is an empty 400 in every environment, not the developer exception page.
builder.Services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = false);
builder.Services.ConfigureHttpJsonOptions(options =>
{
    options.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJsonSerializerContext.Default);
});
builder.Services.AddSingleton(settings.FakeNow is DateTimeOffset fixedNow ? new FixedTimeProvider(fixedNow) : TimeProvider.System);
builder.Services.AddHealthChecks();
builder.Services.AddOpenApi();

var app = builder.Build();

if (settings.FakeNow is DateTimeOffset fakeNow)
{
    app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("TodoApi")
        .LogWarning(1, "{Variable} is set: the clock is fixed at {Instant} (for tests only).", FakeNowVariable, fakeNow.ToString("O", CultureInfo.InvariantCulture));
}

// HEAD is GET without a body (RFC 9110; health probes use it). Kestrel still sees the
// connection's HEAD and drops the body, so the endpoints and the OpenAPI document stay GET-only.
app.Use((context, next) =>
{
    if (HttpMethods.IsHead(context.Request.Method)) context.Request.Method = HttpMethods.Get;
    return next(context);
});
app.UseRouting();

if (app.Environment.IsDevelopment())
{
    // MapOpenApi writes "application/json;charset=utf-8"; the contract's JSON type has the space.
    app.Use((context, next) =>
    {
        context.Response.OnStarting(() =>
        {
            if (context.Response.ContentType == "application/json;charset=utf-8")
                context.Response.ContentType = "application/json; charset=utf-8";
            return Task.CompletedTask;
        });
        return next(context);
    });
    app.MapOpenApi();
}

app.MapHealthChecks("/healthz");

var todosApi = app.MapGroup("/todos");
todosApi.MapGet("/", (TimeProvider clock) => Todo.Samples(clock))
        .WithName("GetTodos");

todosApi.MapGet("/{id}", Results<Ok<Todo>, NotFound> (int id, TimeProvider clock) =>
    Todo.Samples(clock).FirstOrDefault(todo => todo.Id == id) is { } todo
        ? TypedResults.Ok(todo)
        : TypedResults.NotFound())
    .WithName("GetTodoById");

try
{
    app.Run();
}
catch (IOException error)
{
    // A port in use (Kestrel's bind failure): one line and exit 1, not an unhandled-exception dump.
    Console.Error.WriteLine($"crit: TodoApi[3]\n      {error.Message}");
    return 1;
}
return 0;

static bool HasAspNetUrls() =>
    new[] { "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "DOTNET_URLS", "DOTNET_HTTP_PORTS" }
        .Any(name => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(name)));

public record Todo(int Id, string? Title, DateOnly? DueBy = null, bool IsComplete = false)
{
    /// <summary>The post's five todos, dated from the clock in its local time zone (TZ) on every call.</summary>
    public static Todo[] Samples(TimeProvider clock)
    {
        // Calendar-day arithmetic on DateOnly, so a 23- or 25-hour DST day can't skip or repeat a date.
        var today = DateOnly.FromDateTime(clock.GetLocalNow().DateTime);
        return
        [
            new(1, "Walk the dog"),
            new(2, "Do the dishes", today),
            new(3, "Do the laundry", today.AddDays(1)),
            new(4, "Clean the bathroom"),
            new(5, "Clean the car", today.AddDays(2)),
        ];
    }
}

/// <summary>Server settings read from the environment; throws FormatException naming the bad variable.</summary>
sealed partial record TodoSettings(int? Port, DateTimeOffset? FakeNow, TimeSpan ShutdownTimeout)
{
    /// <summary>Leaves a margin under the 5 s orchestrators allow before SIGKILL.</summary>
    static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromMilliseconds(4000);

    public static TodoSettings FromEnvironment(Func<string, string?> read)
    {
        var rawPort = NonEmpty(read("PORT"));
        var rawFakeNow = NonEmpty(read("TODO_API_FAKE_NOW"));
        var rawTimeout = NonEmpty(read("TODO_API_SHUTDOWN_TIMEOUT_MS"));
        DateTimeOffset? fakeNow = null;
        if (rawFakeNow is not null)
        {
            // An explicit zone keeps the instant unambiguous; TZ then decides the local date.
            if (!ZoneSuffix().IsMatch(rawFakeNow)
                || !DateTimeOffset.TryParse(rawFakeNow, CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
            {
                throw new FormatException(
                    $"TODO_API_FAKE_NOW must be an ISO 8601 instant with a zone, e.g. 2026-01-31T23:30:00Z, got \"{rawFakeNow}\"");
            }
            fakeNow = parsed;
        }
        return new TodoSettings(
            rawPort is null ? null : IntegerIn("PORT", rawPort, 0, 65535),
            fakeNow,
            rawTimeout is null ? DefaultShutdownTimeout : TimeSpan.FromMilliseconds(IntegerIn("TODO_API_SHUTDOWN_TIMEOUT_MS", rawTimeout, 0, 60000)));
    }

    static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    static int IntegerIn(string name, string raw, int min, int max)
    {
        if (!DigitsOnly().IsMatch(raw) || !int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new FormatException($"{name} must be an integer from {min} to {max}, got \"{raw}\"");
        }
        return value;
    }

    [GeneratedRegex(@"(?:Z|[+-]\d\d:?\d\d)$", RegexOptions.IgnoreCase)]
    private static partial Regex ZoneSuffix();

    [GeneratedRegex(@"^[0-9]+$")]
    private static partial Regex DigitsOnly();
}

/// <summary>Test-only clock (TODO_API_FAKE_NOW): always the same instant; the local zone is still TZ's.</summary>
sealed class FixedTimeProvider(DateTimeOffset instant) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => instant.ToUniversalTime();
}

[JsonSerializable(typeof(Todo[]))]
[JsonSerializable(typeof(Todo))]
internal partial class AppJsonSerializerContext : JsonSerializerContext
{
}
