# TARGETARCH declared in the parent stage is inherited by the child stage.
FROM --platform=$BUILDPLATFORM golang:1.23 AS base
ARG TARGETARCH
WORKDIR /src

FROM base AS build
COPY . .
RUN GOARCH=$TARGETARCH go build -o /out/app ./cmd/app

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
