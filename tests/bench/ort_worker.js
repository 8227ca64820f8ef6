// ONNX Runtime (onnxruntime-node) worker for peers.py: loads one model and one input, then
// answers "run" with the milliseconds of one inference (timed here, without the pipe),
// "save" by writing the last output (float32, NCHW) to the output path, "quit" by exiting.
//   node ort_worker.js MODEL.onnx INPUT.f32 HEIGHT WIDTH THREADS OUTPUT.f32
'use strict';
const ort = require('onnxruntime-node');
const fs = require('fs');
const readline = require('readline');

(async () => {
  const [model, input, h, w, threads, outPath] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const bytes = fs.readFileSync(input);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, Number(h), Number(w)])};
  let last = null;
  const lines = readline.createInterface({input: process.stdin});
  console.log('ready ' + ort.env.versions.common);
  for await (const line of lines) {
    if (line === 'run') {
      const t0 = process.hrtime.bigint();
      last = await session.run(feeds);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      console.log(ms.toFixed(3));
    } else if (line === 'save') {
      const out = last[session.outputNames[0]].data;
      fs.writeFileSync(outPath, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
      console.log('saved');
    } else if (line === 'quit') {
      break;
    }
  }
  process.exit(0);
})().catch((e) => {
  console.error(String(e));
  process.exit(1);
});
