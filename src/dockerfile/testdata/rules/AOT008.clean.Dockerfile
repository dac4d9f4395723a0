FROM gcr.io/distroless/cc-debian12:nonroot
COPY server /app/server
ENTRYPOINT ["/app/server", "--port", "8080"]
