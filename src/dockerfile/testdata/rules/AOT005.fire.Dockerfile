FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:8.0 AS build
ARG TARGETARCH
WORKDIR /src
COPY . .
RUN dotnet publish -c Release -r linux-x64 -p:PublishAot=true -p:StripSymbols=false -o /out

FROM mcr.microsoft.com/dotnet/aspnet:8.0
COPY --from=build /out/api /app/api
USER $APP_UID
ENTRYPOINT ["/app/api"]
