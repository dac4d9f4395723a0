// GET /sha256 (OpenSSL), /culture (ICU), /tz (zoneinfo and TZ), /healthz. One request per connection.
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

using var stop = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => Environment.Exit(0));
var port = int.Parse(Environment.GetEnvironmentVariable("PORT") ?? "8080", CultureInfo.InvariantCulture);
var listener = new TcpListener(IPAddress.IPv6Any, port);
listener.Server.DualMode = true;
listener.Start();
Console.WriteLine($"listening on {port}");

static string Answer(string path) => path switch
{
    "/sha256" => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("aotpack"))),
    "/culture" => 1234567.891.ToString("N2", CultureInfo.GetCultureInfo("de-DE")),
    "/tz" => $"{TimeZoneInfo.Local.Id} {TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin").BaseUtcOffset}",
    "/healthz" => "Healthy",
    _ => throw new KeyNotFoundException(path),
};

while (true)
{
    using var client = listener.AcceptTcpClient();
    // A client that connects and hangs up (a port probe) must not take the server down.
    try
    {
        using var stream = client.GetStream();
        var buffer = new byte[4096];
        var read = stream.Read(buffer, 0, buffer.Length);
        if (read == 0) continue;
        var requestLine = Encoding.ASCII.GetString(buffer, 0, read).Split("\r\n")[0].Split(' ');
        string status = "200 OK", body;
        try { body = Answer(requestLine.Length > 1 ? requestLine[1] : "/"); }
        catch (KeyNotFoundException) { status = "404 Not Found"; body = "not found"; }
        var bytes = Encoding.UTF8.GetBytes(body);
        stream.Write(Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n"));
        stream.Write(bytes);
    }
    catch (IOException) { }
    catch (SocketException) { }
}
