// Drawing helpers for tools' previews: a path of clicked points with a rubber band to the cursor.

export function drawSketch(ctx, vp, points, cursor, { color = "#fff", closed = false, closeHint = false } = {}) {
  if (!points.length) return;
  const s = vp.scale;
  const at = ([x, y]) => [x * s + vp.tx, y * s + vp.ty];
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = color;
  ctx.beginPath();
  ctx.moveTo(...at(points[0]));
  for (const p of points.slice(1)) ctx.lineTo(...at(p));
  if (cursor) ctx.lineTo(...at(cursor));
  if (closed) ctx.closePath();
  ctx.stroke();
  for (const [i, p] of points.entries()) {
    const [x, y] = at(p);
    ctx.beginPath();
    ctx.arc(x, y, i === 0 && closeHint ? 6 : 3.5, 0, Math.PI * 2);
    ctx.fillStyle = i === 0 && closeHint ? "#facc15" : "#fff";
    ctx.fill();
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 1;
    ctx.stroke();
  }
}

/** Is the screen distance between image points a and b at most `px`? */
export function nearOnScreen(vp, a, b, px) {
  return Math.hypot((a[0] - b[0]) * vp.scale, (a[1] - b[1]) * vp.scale) <= px;
}

export function drawHandle(ctx, vp, x, y, { active = false, mid = false } = {}) {
  const sx = x * vp.scale + vp.tx;
  const sy = y * vp.scale + vp.ty;
  ctx.beginPath();
  if (mid) ctx.arc(sx, sy, 3, 0, Math.PI * 2);
  else ctx.rect(sx - 4, sy - 4, 8, 8);
  ctx.fillStyle = active ? "#2563eb" : mid ? "rgba(255,255,255,0.6)" : "#fff";
  ctx.fill();
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#111";
  ctx.stroke();
}
