import torch, sys
def rosen(x):
    return (100*(x[1:]-x[:-1]**2)**2 + (1-x[:-1])**2).sum()
def run(fn, x0, iters, dtype, max_eval=None):
    x = torch.tensor(x0, dtype=dtype, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=iters, max_eval=max_eval or int(iters*2.5), history_size=10,
        line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-14)
    ev=[0]; fs=[]
    def closure():
        opt.zero_grad(); l=fn(x); l.backward(); ev[0]+=1; return l
    opt.step(closure)
    st=opt.state[opt._params[0]]
    return st['n_iter'], st['func_evals'], x.detach().tolist(), float(fn(x.detach()))
for it in (5, 10, 20, 40, 100):
    for dt in (torch.float32, torch.float64):
        print('rosen2', it, dt, run(rosen, [-1.2, 1.0], it, dt))
x10 = [(-1.2 if i%2==0 else 1.0) for i in range(10)]
for it in (10, 30, 100, 200):
    for dt in (torch.float32, torch.float64):
        print('rosen10', it, dt, run(rosen, x10, it, dt))
