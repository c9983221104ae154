/// The dashboard: one self-contained page that polls the JSON API every second.
enum Dashboard {
    static let html = """
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><title>ecdn dashboard</title>
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style>
    body{font:14px system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
    header{background:#1d2330;color:#fff;padding:12px 20px;display:flex;gap:28px;align-items:baseline;flex-wrap:wrap}
    header h1{font-size:18px;margin:0 12px 0 0}
    .kpi b{display:block;font-size:20px}.kpi span{font-size:12px;opacity:.75}
    main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px}
    .site{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px #0002}
    .site h2{margin:0 0 4px;font-size:16px}.muted{color:#667;font-size:12px}
    .inst{display:flex;justify-content:space-between;align-items:center;border-radius:6px;padding:6px 8px;margin-top:6px;font-size:13px}
    .starting{background:#fff4d6;border-left:4px solid #e0a100}.ready{background:#ddf5e3;border-left:4px solid #1f9d4a}
    .draining{background:#e4ecfb;border-left:4px solid #3f6fd8}.stopped{background:#eee;border-left:4px solid #999;color:#777}
    .bar{height:8px;background:#e6e8ee;border-radius:4px;overflow:hidden;margin-top:8px}.bar i{display:block;height:100%;background:#1f9d4a}
    section{padding:0 20px 20px}table{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden}
    td,th{padding:5px 8px;text-align:left;border-bottom:1px solid #eee;font-size:12px}
    svg{background:#fff;border-radius:8px;width:100%;height:90px}
    #err{color:#c33}
    </style></head><body>
    <header><h1>ecdn</h1>
    <div class="kpi"><b id="k-inst">–</b><span>instances running</span></div>
    <div class="kpi"><b id="k-viewers">–</b><span>viewers (router, last 10 s)</span></div>
    <div class="kpi"><b id="k-rate">–</b><span>router requests/s</span></div>
    <div class="kpi"><b id="k-share">–</b><span>bytes sent by caches</span></div>
    <div class="kpi"><b id="k-origin">–</b><span>origin egress</span></div>
    <div class="kpi"><b id="k-mode">–</b><span>mode / backend</span></div>
    <span id="err"></span></header>
    <main id="sites"></main>
    <section><h3>Over time: <span style="color:#3f6fd8">viewers</span> and <span style="color:#1f9d4a">instances</span> (last 2 minutes)</h3><svg id="chart" viewBox="0 0 600 90" preserveAspectRatio="none"></svg></section>
    <section><h3>Events</h3><table><thead><tr><th>time</th><th>kind</th><th>instance</th><th>message</th></tr></thead><tbody id="events"></tbody></table></section>
    <script>
    const prev={};const history=[];
    function fmtBytes(b){if(b==null)return'–';const u=['B','KB','MB','GB','TB'];let i=0;while(b>=1000&&i<4){b/=1000;i++}return b.toFixed(i?1:0)+' '+u[i]}
    function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))}
    async function get(p){const r=await fetch(p,{cache:'no-store'});if(!r.ok)throw new Error(p+': '+r.status);return r.json()}
    async function refresh(){
      try{
        const [summary,sites,instances,events]=await Promise.all([get('/api/summary'),get('/api/sites'),get('/api/instances'),get('/api/events?limit=15')]);
        const now=Date.now()/1000;
        const reqs=sites.reduce((a,s)=>a+s.requests,0);
        const rate=prev.t?((reqs-prev.reqs)/(now-prev.t)):0;
        const ob=summary.originBytes;const orate=(prev.t&&ob!=null)?((ob-prev.ob)*8/(now-prev.t)):null;
        prev.t=now;prev.reqs=reqs;prev.ob=ob;
        document.getElementById('k-inst').textContent=summary.instancesRunning;
        const viewers=sites.reduce((a,s)=>a+s.viewers,0);
        document.getElementById('k-viewers').textContent=viewers;
        document.getElementById('k-rate').textContent=rate.toFixed(1);
        document.getElementById('k-share').textContent=summary.cacheByteShare==null?'–':(summary.cacheByteShare*100).toFixed(1)+' %';
        document.getElementById('k-origin').textContent=orate==null?fmtBytes(ob):(orate/1e6).toFixed(1)+' Mb/s';
        document.getElementById('k-mode').textContent=summary.mode+' / '+summary.backend;
        const main=document.getElementById('sites');
        main.innerHTML=sites.map(s=>{
          const inst=instances.filter(i=>i.site===s.name&&(i.state!=='stopped'||now-(i.stoppedAt||0)<20));
          const total=s.toCache+s.toOrigin;const pct=total?100*s.toCache/total:0;
          return `<div class="site" data-site="${esc(s.name)}"><h2>${esc(s.name)}</h2>
            <div class="muted">clients ${esc(s.clientPrefix)} · ${s.viewers} viewers · ${s.instances}/${s.maxInstances} instances</div>
            <div class="muted">routed: ${s.toCache} to caches, ${s.toOrigin} to origin (${s.waited} waited for a boot)</div>
            <div class="bar" title="share of viewers sent to caches"><i style="width:${pct.toFixed(1)}%"></i></div>
            ${inst.map(i=>`<div class="inst ${i.state}" data-state="${i.state}" title="${esc(i.reason||'')}"><span><b>${esc(i.id)}</b> ${esc(i.url.split('//').pop())}</span>
              <span>${i.state}${i.bootMilliseconds!=null?' · boot '+i.bootMilliseconds+' ms':''} · ${i.requests} req · ${fmtBytes(i.bytesSent)}</span></div>`).join('')||'<div class="muted" style="margin-top:8px">no cache: viewers go to the origin, a cache starts with the first viewer</div>'}
          </div>`}).join('');
        history.push({i:summary.instancesRunning,v:viewers});if(history.length>120)history.shift();
        const maxY=Math.max(1,...history.map(h=>Math.max(h.i,h.v)));
        const line=(k,c)=>'<polyline fill="none" stroke="'+c+'" stroke-width="2" points="'+history.map((h,x)=>(x*600/119).toFixed(1)+','+(85-80*h[k]/maxY).toFixed(1)).join(' ')+'"/>';
        document.getElementById('chart').innerHTML=line('v','#3f6fd8')+line('i','#1f9d4a');
        document.getElementById('events').innerHTML=events.slice().reverse().map(e=>`<tr><td>${new Date(e.time*1000).toLocaleTimeString()}</td><td>${esc(e.kind)}</td><td>${esc(e.instance)}</td><td>${esc(e.message)}</td></tr>`).join('');
        document.getElementById('err').textContent='';
        document.body.dataset.loaded='1';
      }catch(e){document.getElementById('err').textContent='API unreachable: '+e.message}
    }
    refresh();setInterval(refresh,1000);
    </script></body></html>
    """
}
