FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y ca-certificates curl
USER 65532:65532
ENTRYPOINT ["curl", "--version"]
